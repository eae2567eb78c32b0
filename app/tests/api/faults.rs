//! The fault table's database rows, through a fault proxy in front of MariaDB (`fault_proxy`):
//! R2, the database stalls or drops every connection: readiness fails (at its check's bound, not
//! the stall's) while liveness holds, requests get a clean 503 problem+json, and the service
//! recovers by itself; and P9, an uncached read costs one round trip to the database.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{
    support::fault_proxy::{FaultProxy, Mode},
    support::{Engine, PATIENCE, TenantClient, TestApp, eventually, mysql_url, spawn_with, unique},
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

/// Waits for readiness to answer 200 again; how long it took.
async fn until_ready(app: &TestApp) -> Duration {
    let started = Instant::now();
    eventually("ready again", || async {
        status(app, "/health/ready").await == 200
    })
    .await;
    started.elapsed()
}

/// How long the proxy must see nothing for the wire to count as quiet.
const QUIET: Duration = Duration::from_millis(500);

/// Waits until nothing went through `proxy` for `QUIET` (a release ping sent after a response,
/// say), for at most `PATIENCE`; how many round trips it had seen by then.
async fn quiet(proxy: &FaultProxy) -> usize {
    let until = Instant::now() + PATIENCE;
    let (mut seen, mut since) = (proxy.sent().len(), Instant::now());
    while since.elapsed() < QUIET {
        assert!(
            Instant::now() < until,
            "the database wire not quiet for {QUIET:?} within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = proxy.sent().len();
        if now != seen {
            (seen, since) = (now, Instant::now());
        }
    }
    seen
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
    let app = spawn_with(Engine::MariaDb, &[&format!("DATABASE_URL={through}")]).await;
    let t = app.tenant().await;
    assert_eq!(write(&t).await, (201, false));

    for mode in [Mode::Stall, Mode::Drop] {
        proxy.set(mode);
        // The check is bounded (1.5 s), so readiness answers although the database does not. On
        // a busy machine the answer can take longer than the bound: the bound here only says it
        // did not wait on the stall; the figure is printed below.
        let started = Instant::now();
        let ready =
            tokio::time::timeout(Duration::from_secs(10), status(&app, "/health/ready")).await;
        let unready = started.elapsed();
        assert_eq!(ready, Ok(503), "{mode:?}: readiness after {unready:?}");
        assert_eq!(
            status(&app, "/health/live").await,
            200,
            "{mode:?}: liveness holds"
        );
        let (code, problem) = write(&t).await;
        assert!(code == 503 && problem, "{mode:?}: a request gets {code}");
        proxy.set(Mode::Pass);
        let back = until_ready(&app).await;
        // Connections the fault broke fail at most once each, then the pool replaces them.
        eventually(&format!("{mode:?}: requests recovering"), || async {
            write(&t).await.0 == 201
        })
        .await;
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
    let database_url = format!("DATABASE_URL={through}");
    let flags = [
        database_url.as_str(),
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
    app.settle().await;
    const PING: u8 = 14;
    // Each read is measured between two quiet spells on the wire (the warm read's release ping
    // is sent after its response). A round is repeated while something else shared the wire:
    // the outbox sweep and the status recount run on timers through the same proxy, and on a
    // busy machine one may land in the window. They only add round trips, so a clean round is
    // the read's own: a read costing two, or pinging first, never shows one.
    let until = Instant::now() + PATIENCE;
    loop {
        let before = quiet(&proxy).await;
        t.get(&path).await.ok(200);
        let after = quiet(&proxy).await;
        let sent = proxy.sent()[before..after].to_vec();
        let statements = sent.iter().filter(|c| **c != PING).count();
        println!(
            "P9: {statements} statement round trip(s) for an uncached GET /v1/policies/{{id}}; on the wire: {sent:?}"
        );
        if statements == 1 && sent.first() != Some(&PING) {
            break;
        }
        assert!(
            Instant::now() < until,
            "no read with one round trip and no ping before its SELECT within {PATIENCE:?}; \
             the last: {sent:?}"
        );
    }
}
