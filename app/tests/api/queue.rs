//! The Redis queue and the worker, on the machine's Redis and MariaDB: jobs survive a worker
//! killed mid-job, fail into failed jobs and come back, are served fairly, and a live job is
//! never handed out twice.

use std::time::{Duration, Instant};

use policy_service::{
    jobs::UpdateSearchIndex,
    platform::outbox::RelayOutbox,
    platform::queue::{
        Job, Priority, Task,
        redis::RedisQueue,
        worker::{self, hold},
    },
};
use serde_json::json;
use tokio::sync::oneshot;

use crate::{
    support::worker::{QueuePrefix, llen},
    support::{Engine, PATIENCE, TestApp, eventually, eventually_within, spawn_with},
};

/// How long the kill loop's 2,000 expiries may take to drain (a busy machine's worst, not a
/// speed: the benchmarks measure that).
const DRAIN: Duration = Duration::from_secs(300);

fn id(v: &serde_json::Value) -> &str {
    v["id"].as_str().expect("id")
}

async fn app_on(prefix: &QueuePrefix, engine: Engine, extra: &[&str]) -> TestApp {
    let mut flags = prefix.flags();
    flags.extend(extra.iter().map(|s| (*s).to_owned()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    spawn_with(engine, &flags).await
}

/// Runs a worker inside the test on the app's own state, until the sender is dropped.
pub fn worker_in(app: &TestApp) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    let state = app.state.clone();
    tokio::spawn(async move {
        worker::run(state.runner(), async {
            stopped.await.ok();
        })
        .await
        .expect("worker runs");
    });
    stop
}

fn queue(app: &TestApp) -> &RedisQueue {
    app.state.jobs.redis().expect("jobs go to Redis")
}

/// The kill test: 2,000 policies past their term, one ExpirePolicy job each (and the
/// search and relay jobs they cause), a worker process SIGKILLed mid-run QUEUE_KILLS times
/// (100 by default). Every policy is expired once, with exactly one PolicyExpired event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_a_worker_killed_mid_job_again_and_again() {
    let prefix = QueuePrefix::new();
    let app = app_on(&prefix, Engine::MariaDb, &["--event-publisher", "none"]).await;
    let t = app.tenant().await;
    let seed = t.active_policy().await;
    t.age_policy(id(&seed), 30).await;
    // 1,999 more like it, straight in SQL (the API would take minutes of the test's time).
    for (table, columns) in [
        (
            "quotes",
            "insured_id, product, currency, premium_minor, status, valid_until, effective_date, \
             expiry_date, created_at, updated_at",
        ),
        (
            "policies",
            "insured_id, status, currency, premium_minor, effective_date, expiry_date, notes, \
             cancellation_reason, bound_at, activated_at, ended_at, created_at, updated_at",
        ),
    ] {
        let (extra_cols, extra_vals) = if table == "policies" {
            (
                ", number, quote_id",
                ", CONCAT('PB', LPAD(i * 40 + j, 8, '0')), \
                 CONCAT(LEFT(quote_id, 31), '-', LPAD(i * 40 + j, 4, '0'))",
            )
        } else {
            ("", "")
        };
        let sql = format!(
            "INSERT INTO {table} (id, {columns}{extra_cols}) \
             WITH RECURSIVE a(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM a WHERE i < 49), \
             b(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM b WHERE j < 39) \
             SELECT CONCAT(LEFT(id, 31), '-', LPAD(i * 40 + j, 4, '0')), {columns}{extra_vals} \
             FROM {table}, a, b \
             WHERE id = ? AND i * 40 + j > 0"
        );
        let source = if table == "policies" {
            id(&seed).to_owned()
        } else {
            seed["quote_id"].as_str().expect("quote id").to_owned()
        };
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(source)
            .execute(t.db.pool())
            .await
            .expect("bulk insert");
    }
    let queued = policy_service::schedule::sweep(&app.state).await;
    assert_eq!(queued, 2000);

    let mut flags = prefix.flags();
    flags.extend(
        [
            "--event-publisher",
            "none",
            "--queue-retry-after-secs",
            "5",
            "--queue-high-retry-after-secs",
            "5",
            "--queue-job-timeout-secs",
            "3",
            "--worker-concurrency",
            "4",
        ]
        .map(str::to_owned),
    );
    let kills: usize = std::env::var("QUEUE_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(100);
    let q = queue(&app);
    // A depth, asked again if Redis does not answer within its bound (a busy machine).
    let depth = async || loop {
        if let Ok(depth) = q.depth(&t.slug).await {
            return depth;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut mid_job = 0;
    for _ in 0..kills {
        let mut worker = app.worker_process(&flags);
        // Killed while it works, not while it starts (however slow a start is on a busy
        // machine): once it holds a job, at a random moment of the next 150 ms.
        eventually("the worker holds a job", || async {
            let [high, default] = depth().await;
            high.reserved + default.reserved > 0
        })
        .await;
        tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 150)).await;
        worker.kill();
        let [high, default] = depth().await;
        if high.reserved + default.reserved > 0 {
            mid_job += 1;
        }
    }
    let mut worker = app.worker_process(&flags);
    worker.live().await;
    let expired = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM policies WHERE status = 'expired'")
            .fetch_one(t.db.pool())
            .await
            .unwrap_or(0)
    };
    eventually_within("2000 expired, the queues drained", DRAIN, || async {
        let [high, default] = depth().await;
        expired().await == 2000 && high == Default::default() && default == Default::default()
    })
    .await;
    let (events, policies): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT aggregate_id) FROM outbox WHERE event_type = 'PolicyExpired'",
    )
    .fetch_one(t.db.pool())
    .await
    .expect("outbox");
    assert_eq!((events, policies), (2000, 2000), "one event per policy");
    let failed = policy_service::platform::queue::failed::count(app.state.tenancy.landlord())
        .await
        .expect("failed jobs");
    assert_eq!(failed, 0);
    assert!(
        mid_job * 2 >= kills,
        "only {mid_job} of {kills} kills hit a running job"
    );
    println!("{kills} kills, {mid_job} with jobs running");
    let status = worker.terminate();
    assert!(status.success(), "SIGTERM stops it cleanly: {status:?}");
}

/// A job that fails on every try lands in failed jobs after its tries; `queue stats` counts
/// them, `queue failed forget` deletes one, `queue failed retry` queues one again and
/// `retry --all` the rest, and once the cause is fixed they succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_lands_in_failed_jobs_and_comes_back() {
    let prefix = QueuePrefix::new();
    let app = app_on(&prefix, Engine::MariaDb, &[]).await;
    let _worker = worker_in(&app);
    let t = app.tenant().await;
    // The cause: the search index's table is gone.
    t.execute("RENAME TABLE policy_search TO policy_search_away")
        .await;
    let policy = t.bound_policy().await;
    let (second, third) = (t.bound_policy().await, t.bound_policy().await);
    let landlord = app.state.tenancy.landlord();
    let failed_now = || async {
        policy_service::platform::queue::failed::count(landlord)
            .await
            .unwrap_or(0)
    };
    eventually("the jobs are in failed jobs", || async {
        failed_now().await == 3
    })
    .await;
    let stats = app.cli(&["queue", "stats", "--output", "json"]);
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("JSON stats");
    assert_eq!(stats["failed"], 3, "{stats}");
    let list = app.cli(&["queue", "failed", "list"]);
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(
        listed.contains("UpdateSearchIndex") && listed.contains(" 5 "),
        "{listed}"
    );
    let failed = policy_service::platform::queue::failed::list(landlord, 10)
        .await
        .expect("list");
    // Which failed job is whose: its payload names the policy.
    let of = |p: &serde_json::Value| {
        let id = p["id"].as_str().unwrap_or_default().to_owned();
        failed
            .iter()
            .find(|f| f.payload.contains(&id))
            .map(|f| f.id.clone())
            .expect("a failed job per policy")
    };
    let forgot = app.cli(&["queue", "failed", "forget", &of(&third)]);
    assert!(forgot.status.success(), "{forgot:?}");
    assert_eq!(failed_now().await, 2, "forgotten");

    t.execute("RENAME TABLE policy_search_away TO policy_search")
        .await;
    let retried = app.cli(&["queue", "failed", "retry", &of(&policy)]);
    assert!(retried.status.success(), "{retried:?}");
    let rest = app.cli(&["queue", "failed", "retry", "--all"]);
    assert!(rest.status.success(), "{rest:?}");
    eventually("both indexed once the table is back", || async {
        let r = t.get("/v1/policies/search?q=lovelace").await;
        let ids: Vec<&serde_json::Value> = r.body["items"]
            .as_array()
            .map(|items| items.iter().map(|i| &i["id"]).collect())
            .unwrap_or_default();
        ids.contains(&&policy["id"]) && ids.contains(&&second["id"])
    })
    .await;
    assert_eq!(
        policy_service::platform::queue::failed::count(landlord)
            .await
            .ok(),
        Some(0)
    );
}

/// With 10,000 default jobs of tenant A waiting, a high job of A and a job of tenant B start
/// within the next few jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_tenant_neither_starves_another_nor_its_own_high_jobs() {
    let prefix = QueuePrefix::new();
    let app = app_on(&prefix, Engine::MariaDb, &["--worker-concurrency", "1"]).await;
    let (a, b) = (app.tenant().await, app.tenant().await);
    let q = queue(&app);
    for chunk in 0..10 {
        let jobs: Vec<Job> = (0..1000)
            .map(|i| {
                Job::new(
                    &a.slug,
                    Task::of(&UpdateSearchIndex {
                        policy_id: format!("none-{chunk}-{i}"),
                    }),
                )
            })
            .collect();
        // Asked again if Redis does not answer within its bound: a push that did land twice
        // only makes the flood longer.
        while q.push(&a.slug, &jobs, 0).await.is_err() {}
    }
    let conn = prefix.conn().await;
    let a_default = q.list(&a.slug, Priority::Default);
    let _worker = worker_in(&app);
    // The flood is being served.
    eventually("the flood served", || async {
        llen(&mut conn.clone(), &a_default).await < 9990
    })
    .await;
    let high = Job::new(&a.slug, Task::of(&RelayOutbox { sweep: false }));
    let other = Job::new(
        &b.slug,
        Task::of(&UpdateSearchIndex {
            policy_id: "none".into(),
        }),
    );
    let (a_high, b_default) = (
        q.list(&a.slug, Priority::High),
        q.list(&b.slug, Priority::Default),
    );
    // The three lists' lengths at one instant.
    let lengths = |conn: redis::aio::MultiplexedConnection| {
        let (a_default, a_high, b_default) = (a_default.clone(), a_high.clone(), b_default.clone());
        async move {
            let mut conn = conn;
            let (d, h, b): (u64, u64, u64) = redis::pipe()
                .atomic()
                .llen(&a_default)
                .llen(&a_high)
                .llen(&b_default)
                .query_async(&mut conn)
                .await
                .expect("llen");
            (d, h, b)
        }
    };
    let (before, _, _) = lengths(conn.clone()).await;
    while q
        .push(&a.slug, std::slice::from_ref(&high), 0)
        .await
        .is_err()
    {}
    while q
        .push(&b.slug, std::slice::from_ref(&other), 0)
        .await
        .is_err()
    {}
    let until = Instant::now() + PATIENCE;
    let (mut after, mut started) = (before, false);
    while !started && Instant::now() < until {
        let (d, h, b) = lengths(conn.clone()).await;
        (after, started) = (d, h == 0 && b == 0);
    }
    assert!(started, "both started");
    println!("{} of A's default jobs ran before both", before - after);
    assert!(
        before - after <= 10,
        "{} of A's default jobs ran first",
        before - after
    );
}

/// A job held by a live worker (its lease renewed) is never handed out again, however long it
/// runs; once its worker stops renewing (dies), it comes back after `retry_after`, its try
/// counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_long_job_is_never_handed_out_twice() {
    let prefix = QueuePrefix::new();
    let app = app_on(&prefix, Engine::Sqlite, &[]).await;
    let t = app.tenant().await;
    let q = queue(&app);
    let job = Job::new(&t.slug, Task::of(&RelayOutbox { sweep: false }));
    q.push(&t.slug, std::slice::from_ref(&job), 0)
        .await
        .expect("push");
    // Three seconds, renewed every second: a renewal that Redis does not answer in its bound
    // (a busy machine) leaves two more tries before the lease ends.
    let lease = Duration::from_secs(3);
    let ms = [3000, 3000];
    // The test's own calls, asked again when Redis does not answer within its bound.
    let requeue = async || while q.requeue(&t.slug).await.is_err() {};
    let reserve = async || loop {
        if let Ok(reserved) = q.reserve(&t.slug, ms).await {
            return reserved;
        }
    };
    let held = reserve().await.expect("a job");
    assert_eq!(
        (held.attempts, held.job.clone().ok()),
        (1, Some(job.clone()))
    );
    // Held three leases long while another worker keeps asking.
    let asked = async {
        let until = Instant::now() + lease * 3;
        while Instant::now() < until {
            requeue().await;
            // The service's own jobs (the documents sweep at start) may be handed out: only
            // this one must not be.
            let other = reserve().await.and_then(|r| r.job.ok());
            assert!(other.as_ref() != Some(&job), "handed out while held");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        () = asked => {},
        never = hold(q, &held, lease) => match never {},
    }
    // Its worker died: back after the lease, as its second try.
    let until = Instant::now() + lease + PATIENCE;
    let mut again = None;
    while again.is_none() && Instant::now() < until {
        requeue().await;
        again = reserve()
            .await
            .filter(|r| r.job.as_ref().ok() == Some(&job));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = again.expect("reserved");
    assert_eq!((again.attempts, again.job.ok()), (2, Some(job)));
}

/// With the worker running, a bound policy is found by its insured's name (in well under a
/// second on a quiet machine; the time is printed, not asserted); another tenant never finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_keeps_the_search_index() {
    let prefix = QueuePrefix::new();
    let app = app_on(&prefix, Engine::MariaDb, &[]).await;
    let _worker = worker_in(&app);
    let (a, b) = (app.tenant().await, app.tenant().await);
    let policy = crate::search::policy_of(&a, "Wilhelmina Quackenbush").await;
    let bound_at = Instant::now();
    eventually("found by search", || async {
        let r = a.get("/v1/policies/search?q=quackenbush").await;
        r.body["items"][0]["id"] == policy["id"]
    })
    .await;
    println!("found {:?} after the bind", bound_at.elapsed());
    let r = b.get("/v1/policies/search?q=quackenbush").await;
    assert_eq!(r.ok(200)["items"], json!([]));
}

/// `worker` refuses what cannot work: no Redis, or a lease not longer than the job timeout.
#[tokio::test]
async fn the_worker_refuses_a_configuration_that_cannot_work() {
    let app = crate::support::spawn_app(Engine::Sqlite).await;
    let no_redis = app.cli(&["worker"]);
    assert!(!no_redis.status.success());
    assert!(String::from_utf8_lossy(&no_redis.stderr).contains("worker needs REDIS_URL"));
    let short = app.cli(&[
        &format!("REDIS_URL={}", crate::support::worker::REDIS),
        "--queue-retry-after-secs",
        "30",
        "--queue-job-timeout-secs",
        "30",
        "worker",
    ]);
    assert!(!short.status.success());
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(
        stderr.contains(
            "QUEUE_RETRY_AFTER_SECS (30 s) must be greater than QUEUE_JOB_TIMEOUT_SECS (30 s)"
        ),
        "{stderr}"
    );
}
