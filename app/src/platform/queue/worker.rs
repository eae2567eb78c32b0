//! `policy-service worker`: runs the tenants' Redis queues.
//!
//! - **Bounded**: at most `WORKER_CONCURRENCY` jobs at once; a job is reserved only when a slot
//!   is free, so nothing waits reserved in the process.
//! - **Fair, high first**: tenants with work take turns (a rotation): each turn reserves one job
//!   of that tenant, from `high` if it has one, else `default`, and the tenant goes to the back of
//!   the line. A tenant with 10,000 queued jobs gets one turn in each round like any other.
//! - **Woken, and polling**: a push into an empty list publishes its tenant on `<prefix>wake`,
//!   which puts the tenant in the rotation at once; every `WORKER_POLL_MS` each active tenant's
//!   delayed retries and the jobs of dead workers (expired leases) go back in line, and a tenant
//!   with jobs ready joins the rotation.
//! - **Leased**: while a job runs its lease is renewed every third of `retry_after`, so a live
//!   job is never handed out twice, and a dead worker's job comes back at most `retry_after` after
//!   its last renewal.
//! - **Graceful**: on SIGTERM it reserves nothing more, lets running jobs finish within
//!   `SHUTDOWN_GRACE_SECS`, then gives back the ones still running (to the front of their list,
//!   the try uncounted) before it exits.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    convert::Infallible,
    future::Future,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use futures::StreamExt;
use poem::{Route, Server, get, handler};
use tokio::{
    sync::{Notify, Semaphore, watch},
    task::JoinSet,
};

use super::{
    FailedJob, bury,
    redis::{RedisQueue, Reserved},
    run::{self, Next, Runner},
};
use crate::{
    platform::error::{Error, Result},
    platform::queue::settings::QueueConfig,
    platform::{Platform, db::now_ms},
};

/// How often the queue depth gauges are refreshed.
const STATS_EVERY: Duration = Duration::from_secs(5);

/// Refuses a configuration under which a job could outlive its lease without renewals:
/// Laravel's rule that `retry_after` must exceed the job timeout.
pub fn check(config: &QueueConfig) -> Result<()> {
    let timeout = config.job_timeout;
    for (name, retry_after) in [
        ("QUEUE_HIGH_RETRY_AFTER_SECS", config.high_retry_after),
        ("QUEUE_RETRY_AFTER_SECS", config.retry_after),
    ] {
        if retry_after <= timeout {
            return Err(Error::Config(format!(
                "{name} ({} s) must be greater than QUEUE_JOB_TIMEOUT_SECS ({} s): a job still \
                 running when its lease ends could be handed to a second worker",
                retry_after.as_secs(),
                timeout.as_secs()
            )));
        }
    }
    Ok(())
}

/// Tenants with work, in turn.
#[derive(Default)]
struct Rotation {
    line: VecDeque<String>,
    queued: HashSet<String>,
}

impl Rotation {
    fn add(&mut self, tenant: &str) {
        if self.queued.insert(tenant.to_owned()) {
            self.line.push_back(tenant.to_owned());
        }
    }

    fn next(&mut self) -> Option<String> {
        let tenant = self.line.pop_front()?;
        self.queued.remove(&tenant);
        Some(tenant)
    }
}

struct Turns {
    rotation: Mutex<Rotation>,
    wake: Notify,
}

impl Turns {
    fn lock(&self) -> MutexGuard<'_, Rotation> {
        self.rotation.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, tenant: &str) {
        self.lock().add(tenant);
        self.wake.notify_one();
    }
}

/// Runs jobs until `shutdown` resolves, then stops as the module says.
pub async fn run(runner: Runner, shutdown: impl Future<Output = ()>) -> Result<()> {
    let state = runner.platform.clone();
    check(&state.config.queue)?;
    describe();
    run::describe(&runner.kinds);
    let Some(queue) = state.jobs.redis().cloned() else {
        return Err(Error::Config(
            "worker needs REDIS_URL: without Redis, `serve` runs the jobs itself".into(),
        ));
    };
    let turns = Arc::new(Turns {
        rotation: Mutex::default(),
        wake: Notify::new(),
    });
    let background = [
        tokio::spawn(listen(queue.clone(), turns.clone())),
        tokio::spawn(poll(state.clone(), queue.clone(), turns.clone())),
        tokio::spawn(stats(state.clone(), queue.clone())),
    ];
    let (abandon, abandoned) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(
        usize::try_from(state.config.queue.worker_concurrency).unwrap_or(1),
    ));
    let retry_after = state.config.queue.retry_after();
    let retry_after_ms = retry_after.map(|d| d.as_millis() as u64);
    let mut running = JoinSet::new();
    tracing::info!(
        concurrency = state.config.queue.worker_concurrency,
        "worker started"
    );
    tokio::pin!(shutdown);
    'work: loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break 'work,
        };
        let Ok(slot) = slot else { break };
        // The next tenant in turn with a job; wait for one.
        let reserved = loop {
            while running.try_join_next().is_some() {}
            let next = turns.lock().next();
            let Some(tenant) = next else {
                tokio::select! {
                    () = turns.wake.notified() => continue,
                    () = &mut shutdown => break 'work,
                }
            };
            match queue.reserve(&tenant, retry_after_ms).await {
                Ok(Some(r)) => {
                    turns.add(&tenant);
                    break r;
                }
                Ok(None) => {}
                // Redis is down: the poll puts the tenant back once it answers.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let runner = runner.clone();
        let queue = queue.clone();
        let abandoned = abandoned.clone();
        let lease = retry_after[reserved.priority.index()];
        running.spawn(async move {
            process(&runner, &queue, reserved, lease, abandoned).await;
            drop(slot);
        });
    }
    let grace = state.config.server.shutdown_grace;
    tracing::info!(
        running = running.len(),
        grace_secs = grace.as_secs(),
        "worker stopping: finishing running jobs"
    );
    let finished = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            running = running.len(),
            "grace period over: giving back the jobs still running"
        );
        abandon.send(true).ok();
        while running.join_next().await.is_some() {}
    }
    for task in background {
        task.abort();
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// Runs one reserved job with its lease held, and settles it in Redis.
async fn process(
    runner: &Runner,
    queue: &RedisQueue,
    reserved: Reserved,
    lease: Duration,
    mut abandoned: watch::Receiver<bool>,
) {
    let job = match &reserved.job {
        Ok(job) => job,
        Err(why) => {
            run::count("unknown", &Next::Bury(why.clone()));
            let failed = FailedJob::new(
                &uuid::Uuid::now_v7().to_string(),
                &reserved.tenant,
                "unknown",
                reserved.priority.as_str(),
                reserved.payload(),
                why,
                reserved.attempts,
            );
            settle(
                &runner.platform,
                queue,
                &reserved,
                Next::Bury(why.clone()),
                Some(failed),
            )
            .await;
            return;
        }
    };
    // Tried as often as allowed already (its workers died in each try): never again.
    let kind = runner.kinds.get(&job.task.kind);
    if reserved.attempts > kind.map_or(1, |k| k.max_tries) {
        let why = format!(
            "{} tries started and none finished (the worker died each time)",
            reserved.attempts - 1
        );
        let next = if kind.is_none_or(|k| k.kept_when_failed) {
            Next::Bury(why)
        } else {
            Next::Drop(why)
        };
        run::count(&job.task.kind, &next);
        settle(&runner.platform, queue, &reserved, next, None).await;
        return;
    }
    let next = tokio::select! {
        next = run::run(runner, job, reserved.attempts, "redis") => next,
        never = hold(queue, &reserved, lease) => match never {},
        () = until_set(&mut abandoned) => {
            match queue.release(&reserved).await {
                Ok(true) => tracing::info!(job_id = %job.id, "job given back unfinished"),
                _ => tracing::warn!(job_id = %job.id, "job not given back: it comes back when its lease ends"),
            }
            return;
        }
    };
    settle(&runner.platform, queue, &reserved, next, None).await;
}

/// Ends once the flag is set (never, if its sender is gone unset).
async fn until_set(flag: &mut watch::Receiver<bool>) {
    if flag.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Records the try's outcome in Redis (and in failed jobs).
async fn settle(
    state: &Platform,
    queue: &RedisQueue,
    reserved: &Reserved,
    next: Next,
    failed: Option<FailedJob>,
) {
    let settled = match next {
        Next::Done | Next::Drop(_) => queue.ack(reserved).await,
        Next::Retry(wait) => {
            queue
                .retry(reserved, now_ms() + wait.as_millis() as i64)
                .await
        }
        Next::Bury(error) => {
            let failed = failed.unwrap_or_else(|| {
                let (id, kind) = reserved
                    .job
                    .as_ref()
                    .map_or(("", "unknown"), |j| (j.id.as_str(), j.task.kind.as_str()));
                FailedJob::new(
                    id,
                    &reserved.tenant,
                    kind,
                    reserved.priority.as_str(),
                    reserved.payload(),
                    &error,
                    reserved.attempts,
                )
            });
            // Recorded first: a crash in between runs the job once more, and a second record of
            // it keeps one row; the other way round would lose it.
            match bury(state.tenancy.landlord(), &failed).await {
                Ok(()) => queue.ack(reserved).await,
                Err(e) => {
                    tracing::error!(job_id = %failed.id, error = %e, "failed job not recorded: left for its lease to end");
                    return;
                }
            }
        }
    };
    match settled {
        Ok(true) => {}
        Ok(false) => {
            metrics::counter!("queue_leases_lost_total").increment(1);
            tracing::warn!(tenant = %reserved.tenant, "job's lease had ended: another worker may run it again");
        }
        Err(e) => {
            tracing::warn!(tenant = %reserved.tenant, error = %e, "job not settled in Redis: it runs again when its lease ends");
        }
    }
}

/// Renews the job's lease every third of `lease` for as long as it is awaited (never returns).
pub async fn hold(queue: &RedisQueue, reserved: &Reserved, lease: Duration) -> Infallible {
    let every = lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let deadline = now_ms() + lease.as_millis() as i64;
        match queue.renew(reserved, deadline).await {
            Ok(true) => {
                metrics::counter!("queue_lease_renewals_total", "outcome" => "renewed")
                    .increment(1);
            }
            Ok(false) => {
                metrics::counter!("queue_lease_renewals_total", "outcome" => "lost").increment(1);
                tracing::warn!(tenant = %reserved.tenant, "job's lease was lost while it ran");
                // Nothing left to renew; the job runs on, and `settle` reports how it ended.
                return std::future::pending().await;
            }
            // Redis unreachable: the next renewal may reach it before the deadline.
            Err(_) => {
                metrics::counter!("queue_lease_renewals_total", "outcome" => "failed").increment(1);
            }
        }
    }
}

/// Puts tenants whose pushes are announced on the wake channel in the rotation (wakes missed
/// while it was down are made up by the poll).
async fn listen(queue: Arc<RedisQueue>, turns: Arc<Turns>) {
    let channel = queue.wake_channel();
    let nodes = queue.kv().nodes().to_vec();
    for node in nodes.iter().cycle() {
        if let Ok(Ok(mut pubsub)) =
            tokio::time::timeout(Duration::from_secs(2), node.get_async_pubsub()).await
            && pubsub.subscribe(&channel).await.is_ok()
        {
            let mut messages = pubsub.on_message();
            while let Some(m) = messages.next().await {
                if let Ok(tenant) = m.get_payload::<String>() {
                    turns.add(&tenant);
                }
            }
            tracing::warn!("worker: wake channel lost; polling until it is back");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every `WORKER_POLL_MS`, every active tenant's due retries and expired leases go back in line,
/// and the tenant takes a turn if it has jobs ready (whether or not a wake was missed).
async fn poll(state: Arc<Platform>, queue: Arc<RedisQueue>, turns: Arc<Turns>) {
    let mut every = tokio::time::interval(state.config.queue.worker_poll);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        state.tenancy.close_idle_pools();
        let Ok(tenants) = state.tenancy.list_active().await else {
            continue;
        };
        for t in tenants {
            if matches!(queue.requeue(&t.slug).await, Ok(ready) if ready > 0) {
                turns.add(&t.slug);
            }
        }
    }
}

/// Refreshes `queue_jobs{tenant, queue, state}` (tenants past the label cap summed into
/// `other`) and `queue_failed_jobs`.
async fn stats(state: Arc<Platform>, queue: Arc<RedisQueue>) {
    let mut every = tokio::time::interval(STATS_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Ok(tenants) = state.tenancy.list_active().await else {
            continue;
        };
        let mut sums: HashMap<(String, &'static str, &'static str), u64> = HashMap::new();
        for t in &tenants {
            let Ok(depths) = queue.depth(&t.slug).await else {
                continue;
            };
            let label = telemetry::tenant_label(&t.slug);
            for (p, d) in super::Priority::ALL.iter().zip(depths) {
                for (s, n) in [
                    ("ready", d.ready),
                    ("delayed", d.delayed),
                    ("reserved", d.reserved),
                ] {
                    *sums.entry((label.clone(), p.as_str(), s)).or_default() += n;
                }
            }
        }
        for ((tenant, q, s), n) in sums {
            metrics::gauge!("queue_jobs", "tenant" => tenant, "queue" => q, "state" => s)
                .set(n as f64);
        }
        if let Ok(n) = super::failed::count(state.tenancy.landlord()).await {
            metrics::gauge!("queue_failed_jobs").set(n as f64);
        }
    }
}

/// `/metrics` and `/health/live`, so the worker is scraped and probed like `serve`.
pub async fn serve_probes(
    acceptor: poem::listener::TcpAcceptor,
    exposition: telemetry::metrics::Exposition,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    #[handler]
    fn live() -> &'static str {
        "ok"
    }
    let app = Route::new()
        .at("/metrics", get(exposition))
        .at("/health/live", get(live));
    let served = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app, stop, Some(Duration::from_secs(1)))
        .await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "worker probes listener");
    }
}

fn describe() {
    metrics::describe_gauge!(
        "queue_jobs",
        "Jobs in the Redis queues, by tenant, queue (high, default) and state (ready, delayed, reserved)"
    );
    metrics::describe_gauge!("queue_failed_jobs", "Rows in failed_jobs");
    metrics::describe_counter!(
        "queue_lease_renewals_total",
        "Lease renewals of running jobs, by outcome (renewed, lost, failed)"
    );
    metrics::describe_counter!(
        "queue_leases_lost_total",
        "Jobs that finished after their lease had ended (another worker may have run them)"
    );
    metrics::counter!("queue_leases_lost_total").absolute(0);
    metrics::counter!("queue_lease_renewals_total", "outcome" => "lost").absolute(0);
}
