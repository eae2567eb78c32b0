//! Kong's headers: who may call, and which tenant they act for.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use policy_service::platform::tenancy::TenantStatus;
use reqwest::Method;

use crate::{
    both_engines,
    support::{Engine, PATIENCE, redis_server::RedisServer, spawn_app, spawn_with, unique},
};

both_engines!(
    missing_kong_headers_are_401,
    unknown_or_suspended_tenants_are_403,
    unknown_slugs_are_remembered_briefly
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

/// A junk slug costs the landlord one query per TENANT_NEGATIVE_CACHE_SECS, not one a request;
/// a tenant created meanwhile by this process is served at once.
async fn unknown_slugs_are_remembered_briefly(engine: Engine) {
    // No timed sweep (each lists the tenants from the landlord) during the counts, however long
    // a busy machine makes the test: only the ones at start, waited out below.
    let flags = [
        "--tenant-negative-cache-secs",
        "60",
        "--outbox-sweep-secs",
        "3600",
        "--documents-sweep-secs",
        "3600",
    ];
    let app = spawn_with(engine, &flags).await;
    let landlord = app.state.tenancy.landlord().clone();
    let junk = |slug: &str| {
        app.http
            .get(format!("{}/v1/insureds", app.address))
            .header("X-Consumer-ID", "c1")
            .header("X-Authenticated-Userid", "u1")
            .header("X-Consumer-Custom-ID", slug)
            .send()
    };
    // Let start-up work that reads the landlord (the sweeps' tenant lists) settle first: a
    // second with no landlord statement. A busy machine may run that work well after the start.
    assert_eq!(junk("no-such-tenant").await.unwrap().status(), 403);
    let until = Instant::now() + PATIENCE;
    let (mut before, mut since) = (landlord.statements(), Instant::now());
    while since.elapsed() < Duration::from_secs(1) {
        assert!(
            Instant::now() < until,
            "the landlord not quiet for a second within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = landlord.statements();
        if now != before {
            (before, since) = (now, Instant::now());
        }
    }
    for _ in 0..50 {
        assert_eq!(junk("no-such-tenant").await.unwrap().status(), 403);
    }
    let asked = landlord.statements() - before;
    assert_eq!(
        asked, 0,
        "50 more requests for a slug known to be unknown asked the landlord {asked} times"
    );
    // Concurrent lookups of new junk share a query each.
    let before = landlord.statements();
    let burst = futures::future::join_all((0..20).map(|_| junk("more-junk"))).await;
    assert!(
        burst
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.status() == 403))
    );
    assert_eq!(landlord.statements() - before, 1);

    let slug = format!("t{}", crate::support::unique());
    app.state
        .tenancy
        .create(
            &policy_service::platform::tenancy::TenantSlug::parse(&slug).unwrap(),
            "New",
        )
        .await
        .unwrap();
    // Asked for (and cached as unknown) just before it was made: created here, seen at once.
    assert_eq!(junk(&slug).await.unwrap().status(), 200);
}

/// With GATEWAY_SECRET set, a /v1 request must carry it, exactly, or no Kong header is believed.
#[tokio::test]
async fn the_gateway_secret_is_required_when_set() {
    let app = spawn_with(
        Engine::Sqlite,
        &["GATEWAY_SECRET=kong-only-s3cret-0123456789abcdef"],
    )
    .await;
    let t = app.tenant().await;
    let with = |secret: Option<&str>| {
        let req = t.request(Method::GET, "/v1/insureds");
        match secret {
            Some(s) => req.header("X-Gateway-Secret", s),
            None => req,
        }
    };
    for wrong in [
        None,
        Some(""),
        Some("kong-only"),
        Some("KONG-ONLY-S3CRET"),
        Some("kong-only-s3cret-0123456789abcdef2"),
    ] {
        let refused = t.send(with(wrong)).await;
        let detail = refused.problem(401, None)["detail"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(detail.contains("X-Gateway-Secret"), "{detail}");
        assert!(
            !detail.contains("kong-only-s3cret-0123456789abcdef"),
            "the secret leaks: {detail}"
        );
    }
    t.send(with(Some("kong-only-s3cret-0123456789abcdef")))
        .await
        .ok(200);
    // Right secret, but still Kong's rules: no consumer is 401, an unknown tenant 403.
    let bare = app
        .http
        .get(format!("{}/v1/insureds", app.address))
        .header("X-Gateway-Secret", "kong-only-s3cret-0123456789abcdef");
    t.send(bare).await.problem(401, None);
    // The probes are the kubelet's, not Kong's: no secret needed (a 503 while the landlord check
    // hits its bound on a busy machine is asked again).
    crate::support::ready(&app.http, &app.address).await;
    // Never printed: not in Debug output of the configuration.
    assert!(!format!("{:?}", app.state.config).contains("kong-only-s3cret-0123456789abcdef"));
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

/// The hour is the window these tests count in: the last half minute of one is waited out, so
/// a test's requests fall in one window however slowly this machine runs.
async fn outside_an_hours_end() {
    let into_hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() % 3600);
    if into_hour > 3570 {
        tokio::time::sleep(Duration::from_secs(3601 - into_hour)).await;
    }
}

/// The seed's ApiRateLimiter, as it runs behind Kong: Kong never forwards its
/// `X-RateLimit-Remaining` upstream, so the service counts each consumer's requests itself, the
/// replicas together through Redis, against the limit kong.yaml sets, and warns once per window
/// when few are left. Two replicas take two requests each of a limit of 6 with 2 to spare.
#[tokio::test]
async fn a_consumer_near_its_rate_limit_is_warned_counted_across_replicas() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    outside_an_hours_end().await;

    let prefix = format!("pstest:{}:", unique());
    let flags = [
        "REDIS_URL=redis://127.0.0.1:6379",
        "--redis-prefix",
        &prefix,
        "--rate-limit-per-minute",
        "0",
        "--rate-limit-per-hour",
        "6",
        "--rate-limit-warn-remaining",
        "2",
    ];
    let app = spawn_with(Engine::Sqlite, &flags).await;
    let replica = app.replica(&flags).await;
    let t = app.tenant().await;
    let other = replica.client_for(&t.slug).await;
    let consumer = format!("acme-portal-{}", unique());
    for c in [&t, &t, &other] {
        c.send(
            c.request(Method::GET, "/v1/insureds")
                .header("X-Consumer-Username", &consumer),
        )
        .await
        .ok(200);
    }
    let logs = || String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    // 3 of 6: 3 left, more than 2. Both replicas' flushes (every second) come and go quietly.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!logs().contains("rate limit"), "{}", logs());

    other
        .send(
            other
                .request(Method::GET, "/v1/insureds")
                .header("X-Consumer-Username", &consumer),
        )
        .await
        .ok(200);
    let until = Instant::now() + PATIENCE;
    while !logs().contains("API rate limit approaching") && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = logs();
    assert!(logs.contains("API rate limit approaching"), "{logs}");
    assert!(logs.contains(&consumer), "{logs}");
    assert!(
        logs.contains("remaining=2") && logs.contains("limit=6"),
        "{logs}"
    );
    assert!(
        logs.contains("window=\"hour\"") || logs.contains("window=hour"),
        "{logs}"
    );
}

/// While Redis is away the requests are counted all the same, and added to the shared count
/// once it answers: a replica that served through an outage does not make its consumers look
/// idle to the others.
#[tokio::test]
async fn requests_counted_while_redis_is_down_reach_the_shared_count() {
    outside_an_hours_end().await;
    let mut redis = RedisServer::start().await;
    let prefix = format!("pstest:{}:", unique());
    let url = format!("REDIS_URL={}", redis.url());
    let flags = [
        url.as_str(),
        "--redis-prefix",
        &prefix,
        "--rate-limit-per-minute",
        "0",
    ];
    let app = spawn_with(Engine::Sqlite, &flags).await;
    let t = app.tenant().await;
    let kv = app.state.redis.clone().expect("Redis configured");
    assert!(kv.wait_up(PATIENCE).await, "Redis not reached");
    let consumer = format!("acme-portal-{}", unique());
    redis.kill();
    for _ in 0..3 {
        t.send(
            t.request(Method::GET, "/v1/insureds")
                .header("X-Consumer-Username", &consumer),
        )
        .await
        .ok(200);
    }
    redis.restart().await;
    assert!(kv.wait_up(PATIENCE).await, "Redis not reached again");
    let hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 3600);
    let key = format!("{prefix}ratelimit:{{{consumer}}}:hour:{hour}");
    let client = redis::Client::open(redis.url()).expect("client");
    let until = Instant::now() + PATIENCE;
    loop {
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connection");
        let counted: Option<u64> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("GET");
        if counted == Some(3) {
            break;
        }
        assert!(Instant::now() < until, "{key} holds {counted:?}, not 3");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
