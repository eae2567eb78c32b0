//! The fault table's database rows, through a fault proxy in front of MariaDB (`fault_proxy`):
//! R2, the database stalls or drops every connection: readiness fails within 2 s while liveness
//! holds, requests get a clean 503 problem+json, and the service recovers by itself; and P9,
//! an uncached read costs one round trip to the database.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{
    fault_proxy::{FaultProxy, Mode},
    helpers::{Engine, TenantClient, TestApp, mysql_url, spawn_with, unique},
};

async fn status(app: &TestApp, path: &str) -> u16 {
    app.get(path).await.status
}

/// A write (the cache cannot answer it): its status and whether it was problem+json.
async fn write(t: &TenantClient) -> (u16, bool) {
    let email = format!("{}@example.com", unique());
    let r = t
        .post(
            "/v1/insureds",
            json!({"full_name": "Fault Proxy", "email": email}),
        )
        .await;
    (r.status, r.content_type == "application/problem+json")
}

async fn until_ready(app: &TestApp, within: Duration) -> Duration {
    let started = Instant::now();
    while status(app, "/health/ready").await != 200 {
        assert!(
            started.elapsed() < within,
            "not ready again within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// A fault proxy in front of the test MariaDB, and the DATABASE_URL that goes through it.
async fn proxied_mariadb() -> (FaultProxy, String) {
    let url = url::Url::parse(&mysql_url()).expect("TEST_MYSQL_URL");
    let host = url.host_str().unwrap_or("127.0.0.1");
    let proxy = FaultProxy::start(&format!("{host}:{}", url.port().unwrap_or(3306))).await;
    let mut through = url.clone();
    through.set_port(Some(proxy.port)).ok();
    let through = through.as_str().trim_end_matches('/').to_owned();
    (proxy, through)
}

#[tokio::test]
async fn r2_a_database_that_stalls_or_drops_is_a_clean_503_and_recovers() {
    let (proxy, through) = proxied_mariadb().await;
    let app = spawn_with(Engine::MariaDb, &["--database-url", &through]).await;
    let t = app.tenant().await;
    assert_eq!(write(&t).await, (201, false));

    for mode in [Mode::Stall, Mode::Drop] {
        proxy.set(mode);
        let started = Instant::now();
        assert_eq!(status(&app, "/health/ready").await, 503, "{mode:?}");
        let unready = started.elapsed();
        assert!(
            unready < Duration::from_secs(2),
            "{mode:?}: readiness took {unready:?}"
        );
        assert_eq!(
            status(&app, "/health/live").await,
            200,
            "{mode:?}: liveness holds"
        );
        let (code, problem) = write(&t).await;
        assert!(code == 503 && problem, "{mode:?}: a request gets {code}");
        proxy.set(Mode::Pass);
        let back = until_ready(&app, Duration::from_secs(15)).await;
        // Connections the fault broke fail at most once each, then the pool replaces them.
        let mut recovered = false;
        for _ in 0..20 {
            if write(&t).await.0 == 201 {
                recovered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(recovered, "{mode:?}: requests did not recover");
        println!(
            "R2 {mode:?}: readiness 503 after {unready:?}, ready again {back:?} after the fault ended"
        );
    }
}

/// P9: an uncached `GET /v1/policies/{id}` on a warm connection is one round trip, its SELECT,
/// with no ping before it (sqlx's `test_before_acquire` is off); counted on the wire. sqlx 0.9
/// pings a connection as it goes back to the pool, after the response: that one is not the
/// request's, and cannot be turned off.
#[tokio::test]
async fn p9_an_uncached_read_is_one_round_trip() {
    let (proxy, through) = proxied_mariadb().await;
    // No L1: every read goes to the database. One tenant connection, so the warm-up reads
    // leave the one the measured read uses with its statement prepared.
    let flags = [
        "--database-url",
        &through,
        "--cache-l1-max-bytes",
        "0",
        "--tenant-max-connections",
        "1",
    ];
    let app = spawn_with(Engine::MariaDb, &flags).await;
    let t = app.tenant().await;
    let policy = t.bound_policy().await;
    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap_or_default());
    // Warm: the connection open and the statement prepared, the jobs of the bind done.
    for _ in 0..3 {
        t.get(&path).await.ok(200);
    }
    app.state.jobs.settled(Duration::from_secs(5)).await;
    // The last warm read's release ping is sent after its response: let it pass first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    const PING: u8 = 14;
    let before = proxy.sent().len();
    t.get(&path).await.ok(200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = proxy.sent().split_off(before);
    let statements = sent.iter().filter(|c| **c != PING).count();
    println!(
        "P9: {statements} statement round trip(s) for an uncached GET /v1/policies/{{id}}; on the wire: {sent:?}"
    );
    assert_eq!(statements, 1, "{sent:?}");
    assert_ne!(
        sent.first(),
        Some(&PING),
        "a ping before the SELECT: {sent:?}"
    );
}
