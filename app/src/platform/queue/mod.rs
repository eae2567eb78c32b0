//! Jobs: work that follows a committed change, done after the response (the seed's
//! `config/queue.php` and PolicyObserver's `dispatch(new UpdateSearchIndex($policy))`).
//!
//! A job (`job.rs`) is a `Task` for one tenant. Who runs it depends on Redis:
//! - **With `REDIS_URL`**: jobs go to the tenant's Redis queues, `{tenant}_high` and
//!   `{tenant}_default` (`redis.rs` has the keys and scripts), and `policy-service worker`
//!   processes run them (`worker.rs`): at least once, one worker at a time per job (a lease
//!   renewed while it runs), retried with backoff, then kept in `failed_jobs` (`failed.rs`).
//!   A push that cannot reach Redis is kept and sent again (below), so a Redis outage delays
//!   jobs rather than losing them, unless this process dies meanwhile.
//! - **Without** (the embedded default): `serve` runs them itself, in a background task
//!   (`local.rs`), retried the same way. What that gives up: jobs live in the process's memory,
//!   so a process that dies loses the ones not yet run (the outbox sweep still relays every
//!   event; a lost search update waits for the policy's next change), and one process does them
//!   all.
//!
//! A job is of a kind (`JobKind`) that the part of the service owning it registers with its
//! handler (`registry.rs`); handlers are idempotent, which makes "at least once" safe.

pub mod failed;
pub mod job;
mod local;
pub mod redis;
pub mod registry;
mod run;
pub mod settings;
pub mod worker;

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError, Weak},
    time::{Duration, Instant},
};

pub use failed::FailedJob;
pub use job::{Job, JobKind, Priority, Task};
pub use local::spawn as spawn_local;
pub use registry::Registry;
pub use run::Runner;

use crate::{
    platform::db::Db,
    platform::error::{Error, Result},
    platform::redis::Redis,
};
use redis::RedisQueue;

/// Jobs kept for resending while Redis is unreachable, at most; more are dropped and counted.
const UNSENT_MAX: usize = 10_000;

/// How often unsent jobs are tried again.
const RESEND_EVERY: Duration = Duration::from_millis(500);

/// Pushes Redis did not take, by tenant, oldest first.
type Unsent = Mutex<Vec<(String, Vec<Job>)>>;

/// Where jobs go: the process's own runner, or Redis.
pub struct Jobs {
    backend: Backend,
}

enum Backend {
    Local(local::Local),
    Redis {
        queue: Arc<RedisQueue>,
        unsent: Arc<Unsent>,
        resend: tokio::task::JoinHandle<()>,
    },
}

impl Drop for Jobs {
    fn drop(&mut self) {
        if let Backend::Redis { resend, .. } = &self.backend {
            resend.abort();
        }
    }
}

impl Jobs {
    /// On Redis when there is one; must run inside the Tokio runtime.
    pub fn new(config: &settings::QueueConfig, kv: Option<Arc<Redis>>) -> Jobs {
        describe();
        let backend = match kv {
            None => Backend::Local(local::Local::default()),
            Some(kv) => {
                let queue = Arc::new(RedisQueue::new(kv, &config.prefix));
                let unsent = Arc::new(Mutex::new(Vec::new()));
                let resend = tokio::spawn(resend(Arc::downgrade(&queue), Arc::downgrade(&unsent)));
                Backend::Redis {
                    queue,
                    unsent,
                    resend,
                }
            }
        };
        Jobs { backend }
    }

    /// The Redis queue, if jobs go to Redis.
    pub fn redis(&self) -> Option<&Arc<RedisQueue>> {
        match &self.backend {
            Backend::Redis { queue, .. } => Some(queue),
            Backend::Local(_) => None,
        }
    }

    /// Queues `tasks` for `tenant` (one Redis round trip), in the current trace. Never fails:
    /// what Redis does not take now is sent again when it is back.
    pub async fn dispatch(&self, tenant: &str, tasks: impl IntoIterator<Item = Task>) {
        let jobs: Vec<Job> = tasks.into_iter().map(|t| Job::new(tenant, t)).collect();
        for job in &jobs {
            metrics::counter!("queue_jobs_dispatched_total", "type" => job.task.kind.clone())
                .increment(1);
        }
        match &self.backend {
            Backend::Local(local) => {
                for job in jobs {
                    local.add(job, 0);
                }
            }
            Backend::Redis { queue, unsent, .. } => {
                if jobs.is_empty() {
                    return;
                }
                if let Err(e) = queue.push(tenant, &jobs, 0).await {
                    metrics::counter!("queue_push_failures_total").increment(1);
                    tracing::warn!(tenant, jobs = jobs.len(), error = %e, "jobs not queued; sent again when Redis is back");
                    keep(lock(unsent), tenant, jobs);
                }
            }
        }
    }

    /// Waits (at most `within`) until no job is waiting in this process: the local runner's, and
    /// pushes waiting for Redis (on shutdown, and for tests). False if some still wait.
    pub async fn settled(&self, within: Duration) -> bool {
        match &self.backend {
            Backend::Local(local) => local.settled(within).await,
            Backend::Redis { unsent, .. } => {
                let until = Instant::now() + within;
                loop {
                    let done = lock(unsent).is_empty();
                    if done || Instant::now() >= until {
                        return done;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps a push for `resend`, unless `UNSENT_MAX` jobs already wait: then it is dropped, counted
/// and logged (what is lost: search updates until the policies change again; the outbox sweep
/// relays events regardless).
fn keep(mut unsent: MutexGuard<'_, Vec<(String, Vec<Job>)>>, tenant: &str, jobs: Vec<Job>) {
    let waiting: usize = unsent.iter().map(|(_, j)| j.len()).sum();
    if waiting + jobs.len() > UNSENT_MAX {
        metrics::counter!("queue_jobs_dropped_total").increment(jobs.len() as u64);
        tracing::error!(
            tenant,
            jobs = jobs.len(),
            "jobs dropped: Redis has been unreachable for too long"
        );
        return;
    }
    unsent.push((tenant.to_owned(), jobs));
    metrics::gauge!("queue_unsent_jobs")
        .set((waiting + unsent.last().map_or(0, |(_, j)| j.len())) as f64);
}

/// Sends kept pushes again, oldest first, while Redis takes them.
async fn resend(queue: Weak<RedisQueue>, unsent: Weak<Unsent>) {
    loop {
        tokio::time::sleep(RESEND_EVERY).await;
        let (Some(queue), Some(unsent)) = (queue.upgrade(), unsent.upgrade()) else {
            return;
        };
        if !queue.kv().is_up() {
            continue;
        }
        // Oldest first, each removed only once Redis took it: `settled` never sees an empty
        // list while a push is still on its way.
        loop {
            let Some((tenant, jobs)) = lock(&unsent).first().cloned() else {
                break;
            };
            if queue.push(&tenant, &jobs, 0).await.is_err() {
                break;
            }
            lock(&unsent).remove(0);
        }
        let waiting: usize = lock(&unsent).iter().map(|(_, j)| j.len()).sum();
        metrics::gauge!("queue_unsent_jobs").set(waiting as f64);
    }
}

/// Runs `job` once, here and now (`queue failed retry` without Redis).
pub async fn run_now(runner: &Runner, job: &Job) -> Result<()> {
    match run::run(runner, job, 1, "local").await {
        run::Next::Done => Ok(()),
        _ => Err(Error::Unavailable(format!(
            "job {} failed again (the log says why); it stays in failed jobs",
            job.id
        ))),
    }
}

/// Records a job that used up its tries (or cannot be read) in `failed_jobs`.
pub async fn bury(landlord: &Db, job: &FailedJob) -> Result<()> {
    tracing::error!(
        job_id = %job.id,
        tenant = %job.tenant,
        job_type = %job.job_type,
        attempts = job.attempts,
        error = %job.error,
        "job failed for good: kept in failed_jobs (policy-service queue failed retry {})",
        job.id
    );
    failed::record(landlord, job).await
}

fn describe() {
    metrics::describe_counter!(
        "queue_jobs_dispatched_total",
        "Jobs queued by committed changes and clocks, by type"
    );
    metrics::describe_counter!(
        "queue_push_failures_total",
        "Pushes Redis did not take (kept and sent again)"
    );
    metrics::describe_gauge!(
        "queue_unsent_jobs",
        "Jobs kept in the process until Redis takes them"
    );
    metrics::describe_counter!(
        "queue_jobs_dropped_total",
        "Jobs dropped because too many were already waiting for Redis"
    );
    metrics::counter!("queue_push_failures_total").absolute(0);
    metrics::counter!("queue_jobs_dropped_total").absolute(0);
    metrics::gauge!("queue_unsent_jobs").set(0.0);
}
