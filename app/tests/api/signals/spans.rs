//! Child spans of the work inside a request: every cache call is one, and a miss holds its
//! load's SQL.

use opentelemetry_proto::tonic::trace::v1::Span;

use crate::{
    signals::header,
    signals::install,
    support::receivers,
    support::receivers::{Received, attribute},
    support::{Engine, PATIENCE, spawn_app},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_calls_are_child_spans_holding_their_loads() {
    let received = Received::default();
    let receiver = receivers::start(received.clone()).await;
    let telemetry = install(&receiver);
    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    let policy = t.bound_policy().await;
    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap_or_default());
    let mut traces = Vec::new();
    for _ in 0..2 {
        let resp = t.request(reqwest::Method::GET, &path).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        traces.push(header(&resp, "x-b3-traceid"));
    }
    telemetry.shutdown(PATIENCE).await;

    let spans = received.spans();
    for (trace, outcome, loads) in [(&traces[0], "miss", true), (&traces[1], "l1_hit", false)] {
        let of_trace = |s: &&Span| hex::encode(&s.trace_id) == *trace;
        let server = spans.iter().filter(of_trace).find(|s| s.kind == 2);
        let server = server.unwrap_or_else(|| panic!("no server span for the {outcome}"));
        let cache = spans
            .iter()
            .filter(of_trace)
            .find(|s| s.name == "cache get policy")
            .unwrap_or_else(|| panic!("no cache span for the {outcome}"));
        assert_eq!(cache.parent_span_id, server.span_id, "{outcome}");
        assert_eq!(attribute(cache, "cache.outcome").as_deref(), Some(outcome));
        let sql_under_cache = spans
            .iter()
            .filter(of_trace)
            .any(|s| s.parent_span_id == cache.span_id && s.name == "SELECT policies");
        assert_eq!(
            sql_under_cache, loads,
            "{outcome}: its load's SQL under the cache span"
        );
    }
}

/// Every object store call is a client span in the request's trace: an upload's write (which
/// runs in a task of its own) and a download's read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_calls_are_client_spans_of_the_request() {
    let received = Received::default();
    let receiver = receivers::start(received.clone()).await;
    let telemetry = install(&receiver);
    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    let policy = t.bound_policy().await;
    let path = format!(
        "/v1/policies/{}/documents",
        policy["id"].as_str().unwrap_or_default()
    );
    let part = reqwest::multipart::Part::bytes(b"%PDF-1.7\n%%EOF\n".to_vec()).file_name("a.pdf");
    let form = reqwest::multipart::Form::new()
        .text("type", "other")
        .part("file", part);
    let up = t
        .request(reqwest::Method::POST, &path)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 201);
    let upload_trace = header(&up, "x-b3-traceid");
    let id = up.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let down = t
        .request(reqwest::Method::GET, &format!("/v1/documents/{id}/content"))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 200);
    let download_trace = header(&down, "x-b3-traceid");
    down.bytes().await.unwrap();
    telemetry.shutdown(PATIENCE).await;

    let spans = received.spans();
    for (trace, operation) in [(&upload_trace, "PutObject"), (&download_trace, "GetObject")] {
        let of_trace = |s: &&Span| hex::encode(&s.trace_id) == *trace;
        let server = spans.iter().filter(of_trace).find(|s| s.kind == 2);
        let server = server.unwrap_or_else(|| panic!("no server span for {operation}"));
        let call = spans
            .iter()
            .filter(of_trace)
            .find(|s| s.name == format!("LocalDisk {operation}"))
            .unwrap_or_else(|| panic!("no span for {operation} in its request's trace"));
        assert_eq!(call.kind, 3, "{operation}: a client span");
        assert_eq!(call.parent_span_id, server.span_id, "{operation}");
        assert_eq!(attribute(call, "rpc.method").as_deref(), Some(operation));
        assert_eq!(attribute(call, "aws.s3.bucket").as_deref(), Some("private"));
    }
}

/// A partner call is a client span of the request, and the partner receives the request's
/// trace in W3C and B3 headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_call_carries_the_request_trace() {
    let received = Received::default();
    let receiver = receivers::start(received.clone()).await;
    let telemetry = install(&receiver);
    let partner = crate::support::partner::Partner::start().await;
    let app = crate::support::spawn_with(Engine::Sqlite, &["--camel-url", &partner.url]).await;
    let t = app.tenant().await;
    let insured = t.insured().await;
    let quote = t.quote(insured["id"].as_str().unwrap_or_default()).await;
    let path = format!(
        "/v1/quotes/{}/rate",
        quote["id"].as_str().unwrap_or_default()
    );
    let resp = t
        .request(reqwest::Method::POST, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let trace = header(&resp, "x-b3-traceid");
    telemetry.shutdown(PATIENCE).await;

    let (_, _, headers) = partner.received().remove(0);
    let traceparent = headers["traceparent"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        traceparent.contains(&trace),
        "{traceparent} carries {trace}"
    );
    assert_eq!(headers["x-b3-traceid"].to_str().unwrap_or_default(), trace);
    let spans = received.spans();
    let of_trace = |s: &&Span| hex::encode(&s.trace_id) == trace;
    let server = spans
        .iter()
        .filter(of_trace)
        .find(|s| s.kind == 2)
        .expect("server span");
    let call = spans
        .iter()
        .filter(of_trace)
        .find(|s| {
            s.kind == 3 && attribute(s, "url.full").is_some_and(|u| u.ends_with("/camel/rating"))
        })
        .expect("the partner call's client span");
    assert_eq!(call.parent_span_id, server.span_id);
}

/// With Redis, a miss's L2 calls are client spans under the cache span, beside its load's SQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_calls_are_client_spans_under_the_cache_span() {
    let received = Received::default();
    let receiver = receivers::start(received.clone()).await;
    let telemetry = install(&receiver);
    let prefix = format!("pstest:{}:", crate::support::unique());
    let flags = [
        "REDIS_URL=redis://127.0.0.1:6379",
        "--redis-prefix",
        &prefix,
    ];
    let app = crate::support::spawn_with(Engine::Sqlite, &flags).await;
    let t = app.tenant().await;
    let policy = t.bound_policy().await;
    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap_or_default());
    // The Redis breaker starts open and closes once a probe reaches Redis (on a busy machine,
    // maybe not by now); while it is open no call is made, so no span either.
    let kv = app.state.redis.clone().expect("Redis configured");
    assert!(
        kv.wait_up(PATIENCE).await,
        "Redis not reached within {PATIENCE:?}"
    );
    let resp = t.request(reqwest::Method::GET, &path).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let trace = header(&resp, "x-b3-traceid");
    telemetry.shutdown(PATIENCE).await;

    let spans = received.spans();
    let of_trace = |s: &&Span| hex::encode(&s.trace_id) == trace;
    let cache = spans
        .iter()
        .filter(of_trace)
        .find(|s| s.name == "cache get policy")
        .expect("a cache span");
    let reads = spans
        .iter()
        .filter(of_trace)
        .filter(|s| s.name == "cache_read" && s.kind == 3)
        .collect::<Vec<_>>();
    assert!(!reads.is_empty(), "no Redis read span");
    // The read, and the lease's read of the load it led: both under the cache span.
    for read in reads {
        assert_eq!(read.parent_span_id, cache.span_id);
        assert_eq!(attribute(read, "db.system.name").as_deref(), Some("redis"));
    }
}

/// An event's publish is a producer span in the trace of the request whose change it tells, even
/// though the relay publishes it later, from the outbox; so is every job the change queued (a
/// consumer span).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_publish_continues_the_trace_of_its_change() {
    let received = Received::default();
    let receiver = receivers::start(received.clone()).await;
    let telemetry = install(&receiver);
    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    let insured = t.insured().await;
    let quote = t.quote(insured["id"].as_str().unwrap_or_default()).await;
    let path = format!(
        "/v1/quotes/{}/bind",
        quote["id"].as_str().unwrap_or_default()
    );
    let resp = t
        .request(reqwest::Method::POST, &path)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let trace = header(&resp, "x-b3-traceid");
    app.settle().await;
    telemetry.shutdown(PATIENCE).await;

    let spans = received.spans();
    let publish = spans
        .iter()
        .find(|s| s.name == "publish PolicyBound")
        .expect("a publish span");
    assert_eq!(hex::encode(&publish.trace_id), trace, "in the bind's trace");
    assert_eq!(publish.kind, 4, "a producer span");
    assert_eq!(
        attribute(publish, "messaging.destination.name").as_deref(),
        Some("insurance.policy")
    );
    let broadcast = spans
        .iter()
        .find(|s| s.name == "broadcast PolicyBound")
        .expect("a broadcast span");
    assert_eq!(
        hex::encode(&broadcast.trace_id),
        trace,
        "broadcast in the bind's trace"
    );
    assert_eq!(
        broadcast.parent_span_id, publish.span_id,
        "inside the publish"
    );
    for name in ["process RelayOutbox", "process UpdateSearchIndex"] {
        let job = spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("a {name} span"));
        assert_eq!(
            hex::encode(&job.trace_id),
            trace,
            "{name} in the bind's trace"
        );
        assert_eq!(job.kind, 5, "{name}: a consumer span");
    }
}
