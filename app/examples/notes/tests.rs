//! The notes service end to end, on SQLite in a temporary folder: what a service built on the
//! platform gets (tenancy, cache, outbox, jobs, channels, object store) working together.

use std::{sync::Arc, time::Duration};

use clap::Parser;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Cli, open, routes, service};
use policy_service::platform::{Platform, db, server::host::Host, tenancy::TenantSlug};

struct App {
    base: String,
    platform: Arc<Platform>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn spawn() -> App {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = dir.path().to_str().expect("a UTF-8 path").to_owned();
    let cli = Cli::try_parse_from([
        "notes",
        "--data-dir",
        &data,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ])
    .expect("the defaults parse");
    let (platform, kinds) = open(cli.platform).await.expect("the platform opens");
    for slug in ["acme", "globex"] {
        let slug = TenantSlug::parse(slug).expect("a slug");
        platform
            .tenancy
            .create(&slug, "A tenant")
            .await
            .expect("a tenant");
    }
    let host = Host::bind(platform.clone()).await.expect("a port");
    let port = host.port();
    tokio::spawn(host.run_until(
        routes(platform.clone()),
        kinds,
        vec![],
        std::future::pending(),
    ));
    App {
        base: format!("http://127.0.0.1:{port}"),
        platform,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl App {
    fn as_tenant(&self, slug: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("X-Consumer-ID", format!("consumer-{slug}"))
            .header("X-Authenticated-Userid", "user-1")
            .header("X-Consumer-Custom-ID", slug)
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.expect("an answer");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn create(&self, slug: &str, title: &str, body: &str) -> Value {
        let req = self.as_tenant(slug, Method::POST, "/v1/notes");
        let (status, note) = self
            .call(req.json(&json!({"title": title, "body": body})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{note}");
        note
    }

    async fn get(&self, slug: &str, id: &str) -> (StatusCode, Value) {
        let path = format!("/v1/notes/{id}");
        self.call(self.as_tenant(slug, Method::GET, &path)).await
    }
}

/// Polls `check` until it holds, for a generous while (the machine may be busy).
async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 30 s");
}

#[tokio::test]
async fn notes_are_created_listed_read_through_the_cache_and_kept_from_other_tenants() {
    let app = spawn().await;
    let note = app.create("acme", "Groceries", "milk eggs bread").await;
    let id = note["id"].as_str().expect("an id");
    let (_, listed) = app
        .call(app.as_tenant("acme", Method::GET, "/v1/notes"))
        .await;
    assert_eq!(listed[0]["id"], note["id"]);
    let (status, _) = app.get("globex", id).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another tenant's note is not found"
    );
    let (_, theirs) = app
        .call(app.as_tenant("globex", Method::GET, "/v1/notes"))
        .await;
    assert_eq!(theirs, json!([]));

    // Once the job is done (it counts, then forgets the cached note), a read is cached: a change
    // made behind the service's back is not seen until the entry goes. Waiting for the count
    // alone could read it between the job's count and its forget.
    assert!(
        app.platform.jobs.settled(Duration::from_secs(30)).await,
        "the job done"
    );
    assert_eq!(
        app.get("acme", id).await.1["words"],
        3,
        "counted by the job"
    );
    let tenant = app
        .platform
        .tenancy
        .find("acme")
        .await
        .ok()
        .flatten()
        .expect("acme");
    let db = app
        .platform
        .tenancy
        .db(&tenant)
        .await
        .expect("its database");
    let update = db::query("UPDATE notes SET title = 'Changed' WHERE id = ?").bind(id.to_owned());
    db.conn()
        .await
        .expect("a connection")
        .sql()
        .execute(update)
        .await
        .expect("updated");
    assert_eq!(
        app.get("acme", id).await.1["title"],
        "Groceries",
        "served from the cache"
    );
}

#[tokio::test]
async fn a_note_s_event_reaches_its_tenant_s_channel_only() {
    let app = spawn().await;
    let note = app.create("acme", "Hello", "world").await;
    let broadcasts = &app.platform.broadcasts;
    eventually("NoteCreated on private-notes.acme", async || {
        let sent = broadcasts
            .after("private-notes.acme", (0, 0))
            .await
            .unwrap_or_default();
        sent.iter().any(|m| {
            m.event == "NoteCreated" && m.data.contains(note["id"].as_str().unwrap_or("?"))
        })
    })
    .await;
    let theirs = broadcasts
        .after("private-notes.globex", (0, 0))
        .await
        .unwrap_or_default();
    assert!(theirs.is_empty(), "nothing on another tenant's channel");

    let auth = |slug: &str, channel: &str| {
        let form = [("socket_id", "1.2"), ("channel_name", channel)];
        app.as_tenant(slug, Method::POST, "/broadcasting/auth")
            .form(&form)
    };
    let (status, signed) = app.call(auth("acme", "private-notes.acme")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        signed["auth"].as_str().is_some_and(|a| a.contains(':')),
        "{signed}"
    );
    let (status, problem) = app.call(auth("globex", "private-notes.acme")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
}

#[tokio::test]
async fn an_attachment_is_stored_and_read_back_and_anything_else_is_refused() {
    let app = spawn().await;
    let note = app.create("acme", "Scan", "see attached").await;
    let path = format!(
        "/v1/notes/{}/attachment",
        note["id"].as_str().expect("an id")
    );
    let pdf = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n".to_vec();
    let put = |slug: &str, bytes: Vec<u8>| {
        app.as_tenant(slug, Method::PUT, &path)
            .header("content-type", "application/octet-stream")
            .body(bytes)
    };
    let (status, _) = app.call(put("acme", pdf.clone())).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let got = app
        .as_tenant("acme", Method::GET, &path)
        .send()
        .await
        .expect("an answer");
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(
        got.bytes().await.expect("the bytes").as_ref(),
        pdf.as_slice()
    );
    let (_, read) = app
        .get("acme", note["id"].as_str().unwrap_or_default())
        .await;
    assert_eq!(read["attachment_type"], "application/pdf");

    let (status, problem) = app.call(put("acme", b"just text".to_vec())).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{problem}");
    assert_eq!(problem["field"], "body");
    let (status, _) = app.call(put("globex", pdf)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not another tenant's note");
    let theirs = app.as_tenant("globex", Method::GET, &path);
    assert_eq!(app.call(theirs).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_is_a_problem_naming_the_field() {
    let app = spawn().await;
    let req = app.as_tenant("acme", Method::POST, "/v1/notes");
    let (status, problem) = app.call(req.json(&json!({"title": "", "body": "x"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "title");
    let anonymous = app.http.get(format!("{}/v1/notes", app.base));
    assert_eq!(app.call(anonymous).await.0, StatusCode::UNAUTHORIZED);
}

/// `openapi.json` beside this file is the service's document (regenerate it with
/// `cargo run --example notes -- openapi > app/examples/notes/openapi.json`).
#[test]
fn the_committed_document_is_the_service_s() {
    let committed: Value =
        serde_json::from_str(include_str!("openapi.json")).expect("the committed document");
    let current: Value = serde_json::from_str(&service().spec()).expect("the document");
    assert!(
        committed == current,
        "app/examples/notes/openapi.json is stale"
    );
}

/// What the platform serves for every service: the probes and the metrics, beside the API.
#[tokio::test]
async fn the_probes_and_the_metrics_are_served_beside_the_api() {
    let app = spawn().await;
    for path in ["/health/live", "/health/ready"] {
        let r = app.http.get(format!("{}{path}", app.base)).send().await;
        let status = r.map(|r| r.status()).ok();
        assert_eq!(status, Some(StatusCode::OK), "{path}");
    }
    let r = app.http.get(format!("{}/metrics", app.base)).send().await;
    assert_eq!(r.map(|r| r.status()).ok(), Some(StatusCode::OK), "/metrics");
}
