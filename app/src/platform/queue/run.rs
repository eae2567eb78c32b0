//! Running one try of a job, wherever it was queued: its span (a child of the request's that
//! queued it), its timeout, its handler; and what comes next when it fails.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tracing::{Instrument, field::Empty};

use super::{
    job::{Job, backoff},
    registry::Registry,
};
use crate::{
    platform::Platform,
    platform::error::{Error, Result},
};

/// What runs jobs: the kinds registered, and the platform they run on.
#[derive(Clone)]
pub struct Runner {
    pub platform: Arc<Platform>,
    pub kinds: Arc<Registry>,
}

/// What follows a try.
#[derive(Debug, PartialEq)]
pub enum Next {
    Done,
    /// Failed; try again after this wait.
    Retry(Duration),
    /// Failed for the last time: into failed jobs, with this error.
    Bury(String),
    /// Failed for the last time, and not worth keeping (see `Task::kept_when_failed`).
    Drop(String),
}

/// Runs try number `attempt` of `job`; `system` names the queue (`redis`, `local`) in its span.
pub async fn run(runner: &Runner, job: &Job, attempt: u32, system: &'static str) -> Next {
    let kind = job.task.kind.as_str();
    let span = tracing::info_span!(
        "job",
        otel.name = %format_args!("process {kind}"),
        otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.system = system,
        messaging.operation.type = "process",
        messaging.destination.name = %format_args!("{}_{}", job.tenant, job.task.priority.as_str()),
        messaging.message.id = %job.id,
        tenant.id = %job.tenant,
        job.attempt = attempt,
    );
    if let Some(parent) = &job.traceparent {
        telemetry::propagation::continue_trace(&span, parent);
    }
    if attempt == 1 {
        let waited = chrono::Utc::now().timestamp_micros() - job.queued_at_us;
        metrics::histogram!("queue_job_wait_seconds", "type" => kind.to_owned())
            .record(waited.max(0) as f64 / 1e6);
    }
    let started = Instant::now();
    let config = &runner.platform.config.queue;
    let timeout = config.job_timeout;
    let registered = runner.kinds.get(kind);
    let result = match tokio::time::timeout(timeout, handle(runner, job))
        .instrument(span.clone())
        .await
    {
        Ok(r) => r,
        Err(_) => Err(Error::Unavailable(format!(
            "timed out after {} s",
            timeout.as_secs()
        ))),
    };
    metrics::histogram!("queue_job_duration_seconds", "type" => kind.to_owned())
        .record(started.elapsed().as_secs_f64());
    let next = match result {
        Ok(()) => Next::Done,
        Err(e) => {
            span.record("otel.status_code", "ERROR");
            let error = e.to_string();
            let max = registered.map_or(1, |k| k.max_tries);
            if attempt < max {
                let wait = backoff(config.backoff, attempt);
                tracing::warn!(parent: &span, job_id = %job.id, job_type = kind, attempt, max, retry_in_ms = wait.as_millis() as u64, error = %error, "job failed; retried");
                Next::Retry(wait)
            } else if registered.is_none_or(|k| k.kept_when_failed) {
                Next::Bury(error)
            } else {
                tracing::warn!(parent: &span, job_id = %job.id, job_type = kind, attempt, error = %error, "job failed its last try; dropped (the next sweep does its work)");
                Next::Drop(error)
            }
        }
    };
    count(kind, &next);
    next
}

/// `queue_jobs_total{type, outcome}`.
pub fn count(kind: &str, next: &Next) {
    let outcome = match next {
        Next::Done => "done",
        Next::Retry(_) => "retried",
        Next::Bury(_) => "failed",
        Next::Drop(_) => "dropped",
    };
    metrics::counter!("queue_jobs_total", "type" => kind.to_owned(), "outcome" => outcome)
        .increment(1);
}

async fn handle(runner: &Runner, job: &Job) -> Result<()> {
    let Some(kind) = runner.kinds.get(&job.task.kind) else {
        return Err(Error::Internal(format!(
            "no handler for jobs of type {}",
            job.task.kind
        )));
    };
    // A tenant removed since: nothing is left to do.
    let Some(tenant) = runner.platform.tenancy.resolve(&job.tenant).await? else {
        return Ok(());
    };
    kind.handle(tenant, job.task.data.clone()).await
}

/// The metrics, each kind's failures at 0 from the start.
pub fn describe(kinds: &Registry) {
    metrics::describe_counter!(
        "queue_jobs_total",
        "Tries of jobs, by type and outcome (done, retried, failed, dropped)"
    );
    metrics::describe_histogram!(
        "queue_job_duration_seconds",
        metrics::Unit::Seconds,
        "One try of a job, by type"
    );
    metrics::describe_histogram!(
        "queue_job_wait_seconds",
        metrics::Unit::Seconds,
        "From a job's queueing to the start of its first try, by type"
    );
    for kind in kinds.names() {
        metrics::counter!("queue_jobs_total", "type" => kind, "outcome" => "failed").absolute(0);
    }
}
