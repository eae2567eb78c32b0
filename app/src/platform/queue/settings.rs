//! The job queue's variables (the seed's `config/queue.php`): its keys in Redis, how long a
//! reserved job is trusted to its worker, retries, and the worker's pace.

use std::time::Duration;

use clap::Args;

use crate::platform::config::value::{Unit, duration, millis, secs};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Jobs")]
pub struct QueueConfig {
    /// What every queue key in Redis starts with: `<prefix>{tenant}_default`, `…_high`.
    #[arg(
        id = "queue_prefix",
        long = "queue-prefix",
        env = "QUEUE_PREFIX",
        default_value = "policy_service_queues:"
    )]
    pub prefix: String,

    /// Seconds a reserved job of the `default` queue stays reserved without a lease renewal
    /// before it is handed out again (the seed's `retry_after`).
    #[arg(id = "queue_retry_after_secs", long = "queue-retry-after-secs", env = "QUEUE_RETRY_AFTER_SECS", default_value = "90", value_parser = secs)]
    pub retry_after: Duration,

    /// `retry_after` of the `high` queue.
    #[arg(id = "queue_high_retry_after_secs", long = "queue-high-retry-after-secs", env = "QUEUE_HIGH_RETRY_AFTER_SECS", default_value = "60", value_parser = secs)]
    pub high_retry_after: Duration,

    /// The longest a job may run; then it fails (and is retried). Must be below both
    /// `retry_after`s, or `worker` refuses to start.
    #[arg(id = "queue_job_timeout_secs", long = "queue-job-timeout-secs", env = "QUEUE_JOB_TIMEOUT_SECS", default_value = "30", value_parser = secs)]
    pub job_timeout: Duration,

    /// The wait (ms) before a failed job's second try; it doubles with each try (to 5 minutes at
    /// most), with jitter.
    #[arg(id = "queue_backoff_ms", long = "queue-backoff-ms", env = "QUEUE_BACKOFF_MS", default_value = "1000", value_parser = millis)]
    pub backoff: Duration,

    /// Jobs a `worker` runs at once.
    #[arg(id = "worker_concurrency", long = "worker-concurrency", env = "WORKER_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub worker_concurrency: u64,

    /// How often (ms) a `worker` looks at every tenant's queues, besides being woken by each
    /// push: it is when delayed jobs and the jobs of dead workers are picked up.
    #[arg(id = "worker_poll_ms", long = "worker-poll-ms", env = "WORKER_POLL_MS", default_value = "1000", value_parser = duration(Unit::Millis, 10, u64::MAX))]
    pub worker_poll: Duration,
}

impl QueueConfig {
    /// `retry_after` of the `high` queue, then of `default` (as `Priority` orders them).
    pub fn retry_after(&self) -> [Duration; 2] {
        [self.high_retry_after, self.retry_after]
    }
}
