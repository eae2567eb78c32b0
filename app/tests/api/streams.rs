//! Event streams (`GET /v1/events/stream`) against the server's limits: they hold no request
//! slot, they have caps of their own (per instance 503, per tenant 429), they outlive the
//! keep-alive, and a shutdown ends them cleanly instead of holding the process for its grace.

use std::time::{Duration, Instant};

use crate::{
    broadcasting::Sse,
    support::measure::HealthWatch,
    support::{Engine, PATIENCE, Resp, TenantClient, spawn_app, spawn_with},
};

fn stream_of(t: &TenantClient) -> reqwest::RequestBuilder {
    t.request(
        reqwest::Method::GET,
        &format!("/v1/events/stream?channels=tenant.{}", t.slug),
    )
}

/// Asks for a stream: `Ok` with the open stream's response, or `Err` with the refusal, read.
async fn open(t: &TenantClient) -> Result<reqwest::Response, Resp> {
    let r = stream_of(t).send().await.expect("request");
    if r.status() == 200 {
        Ok(r)
    } else {
        Err(Resp::from(r).await)
    }
}

/// Issue 23 (3): each open stream held one of HTTP_MAX_CONNECTIONS, so one consumer could take
/// them all and leave the kubelet's probe in the backlog. With 4 slots and 12 streams open,
/// other tenants' requests and the probes are still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_hold_no_request_slot() {
    let app = spawn_with(Engine::Sqlite, &["--http-max-connections", "4"]).await;
    let (a, b) = (app.tenant().await, app.tenant().await);
    let health = HealthWatch::start(&app.address);
    let mut streams = Vec::new();
    for _ in 0..12 {
        streams.push(Sse::open(&a, &format!("tenant.{}", a.slug), None).await);
    }
    b.get("/v1/insureds").await.ok(200);
    // And a stream still hears its events.
    b.bound_policy().await;
    let mine = a.bound_policy().await;
    let (_, event, data) = streams[11].next(PATIENCE).await.expect("an event");
    assert_eq!(event, "PolicyBound");
    assert_eq!(data["data"]["policy_id"], mine["id"]);
    health.finish("12 streams on 4 slots").await;
}

/// Issue 23 (3): a tenant may hold BROADCAST_MAX_TENANT_STREAMS (then 429, with Retry-After),
/// an instance BROADCAST_MAX_STREAMS (then 503); one tenant at its cap leaves room for others.
#[tokio::test]
async fn streams_are_capped_per_tenant_and_per_instance() {
    let app = spawn_with(
        Engine::Sqlite,
        &[
            "--broadcast-max-tenant-streams",
            "2",
            "--broadcast-max-streams",
            "3",
        ],
    )
    .await;
    let (a, b, c) = (app.tenant().await, app.tenant().await, app.tenant().await);
    let held = [
        Sse::open(&a, &format!("tenant.{}", a.slug), None).await,
        Sse::open(&a, &format!("tenant.{}", a.slug), None).await,
    ];
    let refused = open(&a).await.expect_err("a third stream of A");
    refused.problem(429, None);
    let retry = refused.headers.get("retry-after").cloned();
    assert!(retry.is_some(), "429 says when to retry");
    let third = Sse::open(&b, &format!("tenant.{}", b.slug), None).await;
    open(&c)
        .await
        .expect_err("a fourth stream")
        .problem(503, None);
    drop((held, third));
    // Freed as their clients go (noticed at the latest by the next keep-alive comment).
    let until = Instant::now() + PATIENCE;
    while let Err(refused) = open(&c).await {
        assert!(
            Instant::now() < until,
            "streams were not given back: {}",
            refused.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A stream lives past the keep-alive: the connection is busy until its response ends, not
/// idle once its handler returned.
#[tokio::test]
async fn a_stream_outlives_the_keep_alive() {
    let app = spawn_with(Engine::Sqlite, &["--http-keep-alive-secs", "1"]).await;
    let t = app.tenant().await;
    let mut sse = Sse::open(&t, &format!("tenant.{}", t.slug), None).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let policy = t.bound_policy().await;
    let (_, _, data) = sse
        .next(PATIENCE)
        .await
        .expect("the stream is still open after three keep-alives");
    assert_eq!(data["data"]["policy_id"], policy["id"]);
}

/// Issue 23 (11): an open stream held a SIGTERMed process for its whole grace and was then cut
/// mid-chunk. Now it ends cleanly when the server stops accepting, and the process exits long
/// before the grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_streams_cleanly() {
    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    let mut server = app
        .replica_process(&["--shutdown-drain-secs", "1", "--shutdown-grace-secs", "120"])
        .await;
    let on_server = server.client(&t);
    let mut response = stream_of(&on_server).send().await.expect("stream");
    assert_eq!(response.status(), 200);
    let signalled = Instant::now();
    server.terminate();
    let mut ended = None;
    while Instant::now() < signalled + PATIENCE {
        match tokio::time::timeout(PATIENCE, response.chunk()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => {
                ended = Some(Ok(signalled.elapsed()));
                break;
            }
            Ok(Err(e)) => {
                ended = Some(Err(e.to_string()));
                break;
            }
            Err(_) => break,
        }
    }
    let took = ended
        .expect("the stream ended")
        .expect("cleanly: its body complete, not cut");
    let exit = server.exited(PATIENCE).await;
    println!("stream ended {took:?} after SIGTERM; the process exited: {exit:?}");
    assert!(
        exit.is_some_and(|s| s.success()),
        "a clean exit, long before the grace: {exit:?}"
    );
}

/// What an open stream costs, so that BROADCAST_MAX_STREAMS binds well before the pod's memory
/// limit does (measured on a `serve` process of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_are_cheap_enough_for_their_cap() {
    const STREAMS: usize = 200;
    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    let server = app.replica_process(&[]).await;
    let on_server = server.client(&t);
    // Warm the allocator and the tenant's pool with a first few, closed again.
    for _ in 0..10 {
        drop(open(&on_server).await.expect("a stream"));
    }
    let gauge = "broadcast_connections{protocol=\"sse\"}";
    let until = Instant::now() + PATIENCE;
    while server.metric(gauge).await > 0.0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = crate::support::measure::rss_kib(server.pid());
    let mut streams = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        // Each on a connection of its own, as browsers' EventSources are.
        let client = TenantClient {
            http: reqwest::Client::new(),
            ..on_server.clone()
        };
        streams.push(open(&client).await.expect("a stream"));
    }
    let after = crate::support::measure::rss_kib(server.pid());
    let per_stream = after.saturating_sub(before) / STREAMS as u64;
    let cap = 2_000; // BROADCAST_MAX_STREAMS's default
    println!(
        "open streams: {STREAMS} cost {} KiB, {per_stream} KiB each; at the cap of {cap}: {} MiB",
        after.saturating_sub(before),
        per_stream * cap / 1024
    );
    assert!(per_stream <= 64, "an open stream costs {per_stream} KiB");
    assert!(
        per_stream * cap < 128 * 1024,
        "the stream cap would cost over 128 MiB"
    );
    drop(streams);
}
