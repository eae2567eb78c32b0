//! Bad requests below the body's content: size, query parameters, content types, routes and
//! methods. Each is a 4xx RFC 9457 problem, never a 5xx.

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    both_engines,
    support::{Engine, Resp, TenantClient, post_raw, rejected, spawn_app},
};

both_engines!(
    oversized_bodies,
    bad_query_parameters,
    content_types_routes_and_methods
);

/// Sends a body with `Transfer-Encoding: chunked` (no Content-Length) over a raw connection.
async fn post_chunked(t: &TenantClient, path: &str, body: &[u8]) -> Resp {
    let host = t.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nX-Consumer-ID: consumer-{slug}\r\n\
         X-Authenticated-Userid: user-1\r\nX-Consumer-Custom-ID: {slug}\r\n\
         Connection: close\r\n\r\n",
        slug = t.slug
    );
    // The server may answer and stop reading before the body ends: write errors are expected.
    let _ = stream.write_all(head.as_bytes()).await;
    for chunk in body.chunks(16 * 1024) {
        if stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .and(stream.write_all(chunk).await)
            .and(stream.write_all(b"\r\n").await)
            .is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut raw = Vec::new();
    let mut buf = [0; 8192];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let content_type = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    Resp {
        status,
        headers: reqwest::header::HeaderMap::new(),
        content_type,
        body: serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())),
    }
}

async fn oversized_bodies(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let big = serde_json::to_vec(&json!({
        "full_name": "x".repeat((1 << 20) + 1024),
        "email": "big@example.com"
    }))
    .unwrap();
    rejected(&post_raw(&t, "/v1/insureds", big.clone()).await, 413, None);
    rejected(&post_chunked(&t, "/v1/insureds", &big).await, 413, None);
    // Just under the limit the body is read, and judged on its content.
    let fits = serde_json::to_vec(&json!({
        "full_name": "x".repeat((1 << 20) - 100),
        "email": "big@example.com"
    }))
    .unwrap();
    rejected(
        &post_chunked(&t, "/v1/insureds", &fits).await,
        422,
        Some("full_name"),
    );
    assert_eq!(
        t.get("/v1/insureds").await.ok(200)["items"],
        json!([]),
        "nothing was created"
    );
}

/// Query parameters the service cannot read are the request's fault: 400 naming the parameter.
async fn bad_query_parameters(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    const LISTS: [&str; 5] = ["insureds", "quotes", "policies", "payments", "claims"];
    for limit in ["0", "101", "abc", "-1", "4294967296", "1.5", ""] {
        for list in LISTS {
            let r = t.get(&format!("/v1/{list}?limit={limit}")).await;
            rejected(&r, 400, Some("limit"));
        }
    }
    rejected(
        &t.get("/v1/policies/active?limit=0").await,
        400,
        Some("limit"),
    );
    rejected(
        &t.get("/v1/policies?status=nope").await,
        400,
        Some("status"),
    );
    rejected(&t.get("/v1/claims?status=x").await, 400, Some("status"));
    // A cursor is a record id (`format: uuid`), in its hyphenated form only; empty is no cursor.
    for cursor in [
        "!!!",
        "djE6bm9wZQ",
        "%00",
        "",
        "0192f4a07b8e7c3d9a4f1b2c3d4e5f60",
        "%7B0192f4a0-7b8e-7c3d-9a4f-1b2c3d4e5f60%7D",
    ] {
        for list in LISTS {
            let r = t.get(&format!("/v1/{list}?cursor={cursor}")).await;
            rejected(&r, 400, Some("cursor"));
        }
    }
    rejected(
        &t.get("/v1/policies/active?cursor=!!!").await,
        400,
        Some("cursor"),
    );
    rejected(
        &t.get("/v1/quotes?insured_id=xyz").await,
        400,
        Some("insured_id"),
    );
    rejected(
        &t.get("/v1/policies?insured_id=1").await,
        400,
        Some("insured_id"),
    );
    rejected(
        &t.get("/v1/payments?policy_id=xyz").await,
        400,
        Some("policy_id"),
    );
    rejected(
        &t.get("/v1/claims?policy_id=xyz").await,
        400,
        Some("policy_id"),
    );
}

async fn content_types_routes_and_methods(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let valid = r#"{"full_name":"Ada","email":"ada@example.com"}"#;
    let r = t
        .send(
            t.request(Method::POST, "/v1/insureds")
                .header("content-type", "text/plain")
                .body(valid),
        )
        .await;
    rejected(&r, 415, None);
    let r = t
        .send(t.request(Method::POST, "/v1/insureds").body(valid))
        .await;
    rejected(&r, 415, None);
    let r = t
        .send(
            t.request(Method::POST, "/v1/insureds")
                .header("content-type", "application/x-www-form-urlencoded")
                .body("full_name=Ada&email=ada%40example.com"),
        )
        .await;
    rejected(&r, 415, None);
    // `application/json; charset=utf-8` and `+json` types are JSON.
    let r = t
        .send(
            t.request(Method::POST, "/v1/insureds")
                .header("content-type", "application/json; charset=utf-8")
                .body(valid),
        )
        .await;
    r.ok(201);

    // A path id is `format: uuid`: anything else is a malformed request, 400 on `id`.
    for path in [
        "/v1/policies/not-a-uuid",
        "/v1/insureds/not-a-uuid",
        "/v1/quotes/123",
        "/v1/payments/x",
        "/v1/claims/0192f4a07b8e7c3d9a4f1b2c3d4e5f60",
    ] {
        rejected(&t.get(path).await, 400, Some("id"));
    }
    rejected(
        &t.action("/v1/policies/not-a-uuid/activate").await,
        400,
        Some("id"),
    );
    rejected(
        &t.post("/v1/quotes/not-a-uuid/bind", json!({})).await,
        400,
        Some("id"),
    );
    rejected(
        &t.post(
            "/v1/claims/not-a-uuid/status",
            json!({"status": "in_review"}),
        )
        .await,
        400,
        Some("id"),
    );
    rejected(
        &t.patch("/v1/policies/not-a-uuid", json!({"notes": "x"}))
            .await,
        400,
        Some("id"),
    );

    rejected(&t.get("/v1/no-such-route").await, 404, None);
    rejected(&t.get("/v2/insureds").await, 404, None);
    rejected(
        &t.send(t.request(Method::DELETE, "/v1/insureds")).await,
        405,
        None,
    );
    rejected(
        &t.send(t.request(Method::PUT, "/v1/policies/active")).await,
        405,
        None,
    );
}

#[tokio::test]
async fn a_405_lists_the_allowed_methods() {
    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    for (method, path, allow) in [
        (Method::DELETE, "/v1/insureds", "GET, HEAD, POST"),
        (
            Method::PUT,
            "/v1/policies/01a20a7d-98cf-7643-8960-e0613cd51779",
            "GET, HEAD, PATCH",
        ),
        (Method::TRACE, "/health/live", "GET, HEAD"),
        (Method::POST, "/openapi.json", "GET, HEAD"),
    ] {
        let resp = t.request(method, path).send().await.unwrap();
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.headers()["allow"], allow, "{path}");
    }
    // HEAD is answered wherever GET is (RFC 9110), and Allow says so: no body, GET's status.
    let head = t
        .request(Method::HEAD, "/v1/insureds")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.bytes().await.unwrap().is_empty());
}
