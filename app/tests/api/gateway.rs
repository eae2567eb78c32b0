//! Kong's headers: who may call, and which tenant they act for.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use policy_service::tenancy::TenantStatus;
use reqwest::Method;

use crate::{
    both_engines,
    helpers::{Engine, spawn_app},
};

both_engines!(
    missing_kong_headers_are_401,
    unknown_or_suspended_tenants_are_403
);

async fn missing_kong_headers_are_401(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let url = format!("{}/v1/insureds", app.address);
    let cases: [&[(&str, &str)]; 4] = [
        &[],
        &[("X-Consumer-ID", "c1")],
        &[
            ("X-Authenticated-Userid", "u1"),
            ("X-Consumer-Custom-ID", &t.slug),
        ],
        &[
            ("X-Consumer-ID", " "),
            ("X-Authenticated-Userid", "u1"),
            ("X-Consumer-Custom-ID", &t.slug),
        ],
    ];
    for headers in cases {
        let mut req = app.http.get(&url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = t.send(req).await;
        resp.problem(401, None);
    }
    // The probes stay outside the gateway's rules.
    app.get("/health/live").await.ok(200);
}

async fn unknown_or_suspended_tenants_are_403(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let as_tenant = |slug: Option<&str>| {
        let mut req = app.http.get(format!("{}/v1/insureds", app.address));
        req = req
            .header("X-Consumer-ID", "c1")
            .header("X-Authenticated-Userid", "u1");
        if let Some(slug) = slug {
            req = req.header("X-Consumer-Custom-ID", slug);
        }
        req
    };
    t.send(as_tenant(None)).await.problem(403, None);
    t.send(as_tenant(Some("no-such-tenant")))
        .await
        .problem(403, None);
    t.send(as_tenant(Some("../../etc")))
        .await
        .problem(403, None);
    // Slugs are exact on both engines (MariaDB's collation alone would match this one).
    t.send(as_tenant(Some(&t.slug.to_uppercase())))
        .await
        .problem(403, None);
    t.send(as_tenant(Some(&t.slug))).await.ok(200);

    app.state
        .tenancy
        .set_status(&t.slug, TenantStatus::Suspended)
        .await
        .unwrap();
    let refused = t.send(as_tenant(Some(&t.slug))).await;
    assert!(
        refused.problem(403, None)["detail"]
            .as_str()
            .unwrap()
            .contains("suspended")
    );

    app.state
        .tenancy
        .set_status(&t.slug, TenantStatus::Active)
        .await
        .unwrap();
    t.send(as_tenant(Some(&t.slug))).await.ok(200);
}

/// Collects log output written on this thread (the test's runtime runs the server too).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_consumer_near_its_rate_limit_is_logged() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    let with_remaining = |remaining: &str| {
        t.request(Method::GET, "/v1/insureds")
            .header("X-Consumer-Username", "acme-portal")
            .header("X-RateLimit-Remaining", remaining)
            .header("X-RateLimit-Limit", "1000")
    };
    t.send(with_remaining("500")).await.ok(200);
    assert!(!String::from_utf8_lossy(&captured.0.lock().unwrap()).contains("rate limit"));

    t.send(with_remaining("7")).await.ok(200);
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    assert!(logs.contains("API rate limit approaching"), "{logs}");
    assert!(
        logs.contains("consumer=\"acme-portal\"") || logs.contains("consumer=acme-portal"),
        "{logs}"
    );
    assert!(
        logs.contains("remaining=7") && logs.contains("1000"),
        "{logs}"
    );
}
