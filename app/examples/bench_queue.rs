//! What the queue costs over Redis itself, side by side in one run (`loadtests/bench-queue.sh`
//! runs it), through the same connection at the same concurrency:
//! - **raw**: `LPUSH` + `LMOVE` + `LREM` per item (a reliable list queue at its barest);
//! - **queue**: `push` + `reserve` + `ack` per job (the scripts, the JSON, the unique keys);
//!   goal: jobs/s ÷ raw ≥ 0.4;
//! - **worker**: the real worker draining pre-queued jobs whose handler does little
//!   (`UpdateSearchIndex` of a policy that does not exist: one SELECT and one DELETE on SQLite),
//!   ÷ that handler called directly at the same concurrency: what the queue and the worker add;
//! - **idle wait**: one job at a time into an idle worker, queued → first try started (p50, p99).
//!
//!   cargo run --release --example bench_queue -- redis://127.0.0.1:6379 [jobs] [concurrency]

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use policy_service::{
    cli::Cli,
    jobs::UpdateSearchIndex,
    platform::queue::{Job, Task, redis::RedisQueue, worker},
    platform::redis::Redis,
    platform::tenancy::TenantSlug,
    services,
    startup::open_state,
    state::AppState,
};

/// Keeps every `queue_job_wait_seconds` sample (the worker's own measure of queued → started).
#[derive(Default)]
struct Waits(Mutex<Vec<f64>>);

impl metrics::HistogramFn for Waits {
    fn record(&self, value: f64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(value);
    }
}

struct Capture(Arc<Waits>);

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        if key.name() == "queue_job_wait_seconds" {
            Histogram::from_arc(self.0.clone())
        } else {
            Histogram::noop()
        }
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// `jobs` items through `each`, `concurrency` at a time; items per second.
async fn rate<F, Fut>(jobs: usize, concurrency: usize, each: F) -> Res<f64>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Res<()>> + Send,
{
    let each = Arc::new(each);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..concurrency {
        let each = each.clone();
        tasks.spawn(async move {
            for i in (lane..jobs).step_by(concurrency) {
                each(i).await?;
            }
            Res::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(jobs as f64 / started.elapsed().as_secs_f64())
}

async fn raw(kv: Arc<Redis>, prefix: String, i: usize) -> Res<()> {
    let (list, taken, item) = (
        format!("{prefix}raw"),
        format!("{prefix}raw:taken"),
        format!("item-{i}"),
    );
    kv.call("bench_lpush", |mut c| {
        let mut cmd = redis::cmd("LPUSH");
        cmd.arg(&list).arg(&item);
        async move { cmd.query_async::<i64>(&mut c).await }
    })
    .await?;
    let moved: Option<String> = kv
        .call("bench_lmove", |mut c| {
            let mut cmd = redis::cmd("LMOVE");
            cmd.arg(&list).arg(&taken).arg("RIGHT").arg("LEFT");
            async move { cmd.query_async(&mut c).await }
        })
        .await?;
    let moved = moved.ok_or("LMOVE found nothing")?;
    kv.call("bench_lrem", |mut c| {
        let mut cmd = redis::cmd("LREM");
        cmd.arg(&taken).arg(1).arg(&moved);
        async move { cmd.query_async::<i64>(&mut c).await }
    })
    .await?;
    Ok(())
}

fn job(tenant: &str, i: usize) -> Job {
    Job::new(
        tenant,
        Task::of(&UpdateSearchIndex {
            policy_id: format!("bench-{i}"),
        }),
    )
}

async fn through_queue(q: Arc<RedisQueue>, tenants: Arc<Vec<String>>, i: usize) -> Res<()> {
    let tenant = &tenants[i % tenants.len()];
    q.push(tenant, &[job(tenant, i)], 0).await?;
    let reserved = q
        .reserve(tenant, [60_000, 60_000])
        .await?
        .ok_or("reserve found nothing")?;
    q.ack(&reserved).await?;
    Ok(())
}

async fn drained(q: &RedisQueue, tenants: &[String]) -> Res<bool> {
    for t in tenants {
        for d in q.depth(t).await? {
            if d.ready + d.reserved + d.delayed > 0 {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The worker draining `jobs` queued beforehand; jobs per second.
async fn worker_rate(state: &Arc<AppState>, tenants: &[String], jobs: usize) -> Res<f64> {
    let q = state.jobs.redis().ok_or("no Redis")?.clone();
    for (n, chunk) in (0..jobs).collect::<Vec<_>>().chunks(100).enumerate() {
        let tenant = &tenants[n % tenants.len()];
        let batch: Vec<Job> = chunk.iter().map(|i| job(tenant, *i)).collect();
        q.push(tenant, &batch, 0).await?;
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let running = tokio::spawn(worker::run(state.runner(), async {
        stopped.await.ok();
    }));
    while !drained(&q, tenants).await? {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let rate = jobs as f64 / started.elapsed().as_secs_f64();
    stop.send(()).ok();
    running.await??;
    Ok(rate)
}

/// The same handler's work called directly, `concurrency` at a time: what the worker adds to it
/// is its own cost.
async fn direct_rate(
    state: &Arc<AppState>,
    tenants: &Arc<Vec<String>>,
    jobs: usize,
    concurrency: usize,
) -> Res<f64> {
    let (state, tenants) = (state.clone(), tenants.clone());
    rate(jobs, concurrency, move |i| {
        let (state, tenants) = (state.clone(), tenants.clone());
        async move {
            let slug = &tenants[i % tenants.len()];
            let tenant = state.tenancy.resolve(slug).await?.ok_or("no tenant")?;
            let borrowed = state.tenancy.borrow_db(&tenant).await?;
            let done = services::search::index_policy(borrowed.db(), &format!("bench-{i}")).await;
            borrowed.done().await;
            Ok(done?)
        }
    })
    .await
}

/// One job at a time into an idle worker; the worker's own waits, in seconds.
async fn idle_waits(state: &Arc<AppState>, tenants: &[String], waits: &Waits) -> Res<Vec<f64>> {
    let q = state.jobs.redis().ok_or("no Redis")?.clone();
    waits
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker::run(state.runner(), async {
        stopped.await.ok();
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..300 {
        let tenant = &tenants[i % tenants.len()];
        q.push(tenant, &[job(tenant, 1_000_000 + i)], 0).await?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while !drained(&q, tenants).await? {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).ok();
    running.await??;
    let mut samples = waits
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    samples.sort_by(f64::total_cmp);
    Ok(samples)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let jobs: usize = args.next().map_or(Ok(20_000), |n| n.parse())?;
    let concurrency: usize = args.next().map_or(Ok(8), |n| n.parse())?;
    let waits = Arc::new(Waits::default());
    metrics::set_global_recorder(Capture(waits.clone())).map_err(|e| e.to_string())?;

    let dir = tempfile::tempdir()?;
    let prefix = format!("bench:{}:", uuid::Uuid::now_v7().simple());
    let secrets = |name: &str| (name == "REDIS_URL").then(|| url.clone());
    let cli = Cli::try_parse_args_with(
        [
            "policy-service",
            "--data-dir",
            &dir.path().display().to_string(),
            "--demo-tenant",
            "false",
            "--queue-prefix",
            &prefix,
            "--worker-concurrency",
            &concurrency.to_string(),
            "--log-filter",
            "error",
            "serve",
        ],
        &secrets,
    )?;
    let state = open_state(cli.config).await?;
    let kv = state.redis.clone().ok_or("no Redis")?;
    if !kv.wait_up(Duration::from_secs(5)).await {
        return Err(format!("no Redis at {url}").into());
    }
    let mut tenants = Vec::new();
    for n in 0..4 {
        let slug = format!("bench-{n}");
        state
            .tenancy
            .create(&TenantSlug::parse(&slug)?, "Bench")
            .await?;
        tenants.push(slug);
    }
    let tenants = Arc::new(tenants);
    let q = state.jobs.redis().ok_or("no Redis")?.clone();

    let (mut raws, mut queues, mut workers, mut directs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=3 {
        let (k, p) = (kv.clone(), prefix.clone());
        let r = rate(jobs, concurrency, move |i| raw(k.clone(), p.clone(), i)).await?;
        let (qq, tt) = (q.clone(), tenants.clone());
        let j = rate(jobs, concurrency, move |i| {
            through_queue(qq.clone(), tt.clone(), i)
        })
        .await?;
        let w = worker_rate(&state, &tenants, jobs).await?;
        let d = direct_rate(&state, &tenants, jobs, concurrency).await?;
        println!(
            "round {round}: raw {r:.0}/s, queue {j:.0}/s, worker {w:.0}/s, handler alone {d:.0}/s"
        );
        raws.push(r);
        queues.push(j);
        workers.push(w);
        directs.push(d);
    }
    let samples = idle_waits(&state, &tenants, &waits).await?;
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize] * 1000.0;
    let (raw, queue, worker, direct) = (
        median(raws),
        median(queues),
        median(workers),
        median(directs),
    );
    println!("raw LPUSH+LMOVE+LREM:        {raw:.0} items/s ({concurrency} at a time)");
    println!(
        "queue push+reserve+ack:      {queue:.0} jobs/s  ratio {:.2} (goal >= 0.4)",
        queue / raw
    );
    println!(
        "worker (search update of no policy: a SELECT and a DELETE on SQLite): {worker:.0} jobs/s, \
         the handler alone {direct:.0}/s: ratio {:.2}",
        worker / direct
    );
    println!(
        "idle enqueue-to-start ({} jobs): p50 {:.2} ms, p99 {:.2} ms",
        samples.len(),
        at(0.5),
        at(0.99)
    );
    // Leave nothing behind in a shared Redis.
    let keys: Vec<String> = kv
        .call("bench_keys", |mut c| {
            let mut cmd = redis::cmd("KEYS");
            cmd.arg(format!("{prefix}*"));
            async move { cmd.query_async(&mut c).await }
        })
        .await?;
    for key in keys {
        kv.call("bench_del", |mut c| {
            let mut cmd = redis::cmd("DEL");
            cmd.arg(key);
            async move { cmd.query_async::<i64>(&mut c).await }
        })
        .await?;
    }
    state.tenancy.close().await;
    Ok(())
}
