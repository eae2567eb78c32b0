//! Replicas sharing MariaDB and Redis, each with its L1 in front of L2: no stale read across
//! them (the backplane cut included), one database load for a cold key, Redis killed under load
//! without a failed request, a start while Redis is down, and a Redis Cluster.
//!
//! The stale-read tests run the replicas as processes of their own, as in production: replicas
//! sharing the test's one thread would also share its scheduling, which no deployment does.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::json;

use crate::{
    support::redis_server::{Cluster, RedisServer},
    support::replica::Replica,
    support::{Engine, PATIENCE, TenantClient, TestApp, eventually, free_port, spawn_with, unique},
};

/// Flags for an app on `url` under a prefix of the test's own.
fn on_redis(url: &str, prefix: &str) -> Vec<String> {
    vec![
        format!("REDIS_URL={url}"),
        "--redis-prefix".into(),
        prefix.into(),
    ]
}

/// Two replicas on `url`, both with their backplane subscribed.
async fn two_replicas(url: &str, more: &[&str]) -> (TestApp, TestApp) {
    let prefix = format!("pstest:{}:", unique());
    let mut flags = on_redis(url, &prefix);
    flags.extend(more.iter().map(|s| (*s).to_owned()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let a = spawn_with(Engine::MariaDb, &flags).await;
    let b = a.replica(&flags).await;
    for app in [&a, &b] {
        assert!(app.state.cache.backplane_up(PATIENCE).await, "backplane");
    }
    (a, b)
}

/// Statements both replicas ran on the tenant's database.
async fn statements(a: &TestApp, b: &TestApp, slug: &str) -> u64 {
    a.statements(slug).await + b.statements(slug).await
}

/// Write on one replica, read on the other, `pairs` times; counts the stale reads. Before each
/// write both replicas hold the record in L1. `midway` runs halfway through.
async fn stale_reads(a: &TenantClient, b: &TenantClient, pairs: usize, midway: impl Fn()) -> usize {
    let policy = a.bound_policy().await;
    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap());
    let mut stale = 0;
    for i in 0..pairs {
        if i == pairs / 2 {
            midway();
        }
        let (writer, reader) = if i % 2 == 0 { (a, b) } else { (b, a) };
        writer.get(&path).await.ok(200);
        reader.get(&path).await.ok(200);
        let notes = format!("write {i}");
        writer.patch(&path, json!({ "notes": notes })).await.ok(200);
        if reader.get(&path).await.ok(200)["notes"] != notes.as_str() {
            stale += 1;
        }
    }
    stale
}

/// Two replica processes on `url` beside `app` (which made the databases), both with their
/// backplane subscribed.
async fn two_processes(app: &TestApp, url: &str, more: &[&str]) -> (Replica, Replica) {
    let mut flags = on_redis(url, &app.state.config.cache.prefix);
    flags.extend(more.iter().map(|s| (*s).to_owned()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let one = app.replica_process(&flags).await;
    let two = app.replica_process(&flags).await;
    for r in [&one, &two] {
        backplane_up(r).await;
    }
    (one, two)
}

async fn backplane_up(r: &Replica) {
    let what = format!("the backplane of {} coming up", r.address);
    eventually(&what, || async {
        r.metric("cache_backplane_up").await == 1.0
    })
    .await;
}

#[tokio::test]
async fn two_replicas_never_read_stale_even_when_the_backplane_drops() {
    let redis = RedisServer::start().await;
    let app = spawn_with(Engine::MariaDb, &[]).await;
    let (one, two) = two_processes(&app, &redis.url(), &[]).await;
    let t = app.tenant().await;
    let stale = stale_reads(&one.client(&t), &two.client(&t), 1_000, || {
        let out = redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
        assert!(out.status.success(), "CLIENT KILL");
    })
    .await;
    assert_eq!(stale, 0, "stale reads across replicas");
    for r in [&one, &two] {
        // Both came back, having counted the episode, and heard the other's invalidations.
        backplane_up(r).await;
        assert!(r.metric("cache_backplane_reconnects_total").await >= 1.0);
        let heard = r
            .metric("cache_invalidations_received_total{outcome=\"applied\"}")
            .await;
        assert!(heard >= 500.0, "{heard}");
    }
}

#[tokio::test]
async fn a_cold_policy_loads_once_across_two_replicas() {
    let (a, b) = two_replicas("redis://127.0.0.1:6379", &[]).await;
    let ta = a.tenant().await;
    let tb = b.client_for(&ta.slug).await;
    // What one load costs, measured on a first cold policy.
    let first = ta.bound_policy().await;
    let before = statements(&a, &b, &ta.slug).await;
    ta.get(&format!("/v1/policies/{}", first["id"].as_str().unwrap()))
        .await
        .ok(200);
    let one_load = statements(&a, &b, &ta.slug).await - before;
    assert!(one_load > 0);

    let cold = ta.bound_policy().await;
    let path = format!("/v1/policies/{}", cold["id"].as_str().unwrap());
    let before = statements(&a, &b, &ta.slug).await;
    let all = futures::future::join_all((0..200).map(|i| {
        let t = if i % 2 == 0 { &ta } else { &tb };
        t.get(&path)
    }))
    .await;
    for r in &all {
        assert_eq!(r.ok(200)["id"], cold["id"]);
    }
    let loads = (statements(&a, &b, &ta.slug).await - before) / one_load;
    assert_eq!(
        loads, 1,
        "database loads for 200 cold requests on two replicas"
    );
}

/// Waits for readiness to say `ok` again: the breaker's probe found Redis. A 503 on the way is
/// no failure: on a busy machine the database check may hit its bound for a moment.
async fn ready_again(app: &TestApp) {
    eventually(
        "readiness `ok` again (the probe found Redis back)",
        || async {
            let ready = app.get("/health/ready").await;
            ready.status == 200 && ready.body["status"] == "ok"
        },
    )
    .await;
}

/// Reads `path` through `t` and asks Redis for its key count, until L2 holds something. A read
/// fills L2 after its load; a fill that failed (Redis slow to answer on a busy machine) leaves
/// it to a later read.
async fn l2_in_use(redis: &RedisServer, t: &TenantClient, path: &str) {
    eventually("L2 in use", || async {
        t.get(path).await.ok(200);
        let keys = redis.cli(&["DBSIZE"]);
        String::from_utf8_lossy(&keys.stdout).trim() != "0"
    })
    .await;
}

/// Reads and writes on both replicas until stopped; counts the requests that failed.
fn keep_busy(
    ta: &TenantClient,
    tb: &TenantClient,
    path: &str,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicU64>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let tasks = [ta.clone(), tb.clone()]
        .into_iter()
        .enumerate()
        .map(|(n, t)| {
            let (stop, failed, path) = (stop.clone(), failed.clone(), path.to_owned());
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let r = if i.is_multiple_of(10) {
                        t.patch(&path, json!({ "notes": format!("{n}:{i}") })).await
                    } else {
                        t.get(&path).await
                    };
                    if r.status != 200 {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    (stop, failed, tasks)
}

#[tokio::test]
async fn redis_killed_and_restarted_under_load_fails_no_request() {
    let mut redis = RedisServer::start().await;
    let (a, b) = two_replicas(&redis.url(), &[]).await;
    let ta = a.tenant().await;
    let tb = b.client_for(&ta.slug).await;
    let policy = ta.bound_policy().await;
    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap());
    let (stop, failed, tasks) = keep_busy(&ta, &tb, &path);
    tokio::time::sleep(Duration::from_millis(500)).await;

    redis.kill();
    // The load runs on without Redis for a while.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // L1 is bypassed while the backplane is down (it notices a closed connection or a missed
    // ping); readiness says degraded, not dead (a 503 from a database check that hit its bound
    // on a busy machine is retried).
    eventually("the backplane seen down", || async {
        !a.state.cache.backplane_up(Duration::ZERO).await
    })
    .await;
    eventually("readiness `degraded` while Redis is down", || async {
        let ready = a.get("/health/ready").await;
        ready.status == 200 && ready.body["status"] == "degraded"
    })
    .await;

    redis.restart().await;
    for app in [&a, &b] {
        assert!(
            app.state.cache.backplane_up(PATIENCE).await,
            "backplane back"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("load task");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed requests");
    // The breaker's probe (every 500 ms) may find Redis a moment after the backplane did.
    for app in [&a, &b] {
        ready_again(app).await;
    }

    // Back to the cache: reads cost no statement, and L2 holds the record again. A round is
    // repeated while it costs statements: right after Redis came back, a read whose L2 call
    // failed (a reconnect still under way, Redis slow to answer on a busy machine) loads from
    // the database, as it should; what must hold is that the cache takes over again.
    tb.get(&path).await.ok(200);
    ta.get(&path).await.ok(200);
    eventually("four reads served from cache", || async {
        let before = statements(&a, &b, &ta.slug).await;
        for t in [&ta, &tb, &ta, &tb] {
            t.get(&path).await.ok(200);
        }
        statements(&a, &b, &ta.slug).await == before
    })
    .await;
    l2_in_use(&redis, &ta, &path).await;
}

#[tokio::test]
async fn starts_while_redis_is_down_and_uses_it_when_back() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let prefix = format!("pstest:{}:", unique());
    let flags = on_redis(&url, &prefix);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = spawn_with(Engine::Sqlite, &flags).await;
    eventually("readiness `degraded` while Redis is down", || async {
        let ready = app.get("/health/ready").await;
        ready.status == 200 && ready.body["status"] == "degraded"
    })
    .await;
    let t = app.tenant().await;
    let policy = t.bound_policy().await;
    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap());
    t.get(&path).await.ok(200);

    let redis = RedisServer::on(port, &[]).await;
    assert!(app.state.cache.backplane_up(PATIENCE).await, "backplane");
    ready_again(&app).await;
    l2_in_use(&redis, &t, &path).await;
}

/// On a three-node Redis Cluster: reads, invalidation across replicas, the active page's tag,
/// and `tenants suspend` flushing the tenant in every replica.
#[tokio::test]
async fn a_redis_cluster_serves_both_replicas() {
    let cluster = Cluster::start().await;
    let url = cluster.url();
    let app = spawn_with(Engine::MariaDb, &[]).await;
    let (one, two) = two_processes(&app, &url, &["--tenant-cache-ttl-secs", "1"]).await;
    let t = app.tenant().await;
    let (ta, tb) = (one.client(&t), two.client(&t));
    assert_eq!(stale_reads(&ta, &tb, 100, || {}).await, 0);

    // The active page (a tag flush on payment) is fresh on the other replica.
    let active = ta.active_policy().await;
    tb.get("/v1/policies/active").await.ok(200);
    ta.post(
        "/v1/payments",
        json!({"policy_id": active["id"], "amount_minor": 100, "currency": "EUR", "method": "card"}),
    )
    .await
    .ok(201);
    let page = tb.get("/v1/policies/active").await;
    assert_eq!(
        page.ok(200)["items"][0]["last_payment"]["amount_minor"],
        100
    );

    // A change behind the service's back, then suspend (which flushes the tenant) and resume:
    // both replicas read the database again.
    let path = format!("/v1/policies/{}", active["id"].as_str().unwrap());
    ta.get(&path).await.ok(200);
    tb.get(&path).await.ok(200);
    t.execute("UPDATE policies SET notes = 'behind the back'")
        .await;
    let prefix = app.state.config.cache.prefix.clone();
    for command in ["suspend", "activate"] {
        let out = app.cli(&[
            &format!("REDIS_URL={url}"),
            "--redis-prefix",
            &prefix,
            "tenants",
            command,
            &t.slug,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The flush reaches each replica through the backplane, a moment after the CLI returns, and
    // the tenant may be refused until its own cache entry (1 s) ages out. A cached policy lives
    // far longer than the wait, so only the flush can make the change show.
    for t in [&ta, &tb] {
        eventually(
            "the change behind the back read on every replica",
            || async {
                let r = t.get(&path).await;
                r.status == 200 && r.body["notes"] == "behind the back"
            },
        )
        .await;
    }
}
