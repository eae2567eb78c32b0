//! A job: what to do (`Task`, of a `JobKind`), for which tenant, and what the queue needs to run
//! it once.

use std::time::Duration;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The two queues of every tenant, in the order a worker serves them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
    #[default]
    Default,
}

impl Priority {
    pub const ALL: [Priority; 2] = [Priority::High, Priority::Default];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Default => "default",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Priority::High => 0,
            Priority::Default => 1,
        }
    }
}

/// A kind of job a service runs, declared by the part of the service that owns it (the
/// insurance domain's search updates, the platform's outbox relay) and registered with its
/// handler (`registry.rs`). Its value is what one job of the kind carries; every handler is
/// idempotent (running a job twice leaves what running it once does), which makes "at least
/// once" safe.
pub trait JobKind: Serialize + DeserializeOwned + Send + 'static {
    /// Its name in payloads, failed jobs and metrics (`type`): one per kind in a service.
    const NAME: &'static str;
    /// Events are what other systems wait for: the outbox relay is `High`.
    const PRIORITY: Priority = Priority::Default;
    /// Tries before the job counts as failed.
    const MAX_TRIES: u32 = 5;
    /// Whether a job that used up its tries is kept in failed jobs. A sweep's need not be: the
    /// next sweep does its work.
    const KEPT_WHEN_FAILED: bool = true;

    /// While a job with this key waits in the queue, the same job is not queued again (it would
    /// do the same work): Laravel's `ShouldBeUniqueUntilProcessing`. Released when a worker
    /// takes the job, so a change made while it runs queues another.
    fn unique_key(&self) -> String;
}

/// What a job does: its kind's name and its data (`{"type": …, "data": …}`), with how it is
/// queued, fixed when it is made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub unique: String,
}

impl Task {
    pub fn of<K: JobKind>(job: &K) -> Task {
        Task {
            kind: K::NAME.to_owned(),
            // Kinds are plain data (strings, numbers, flags): serializing cannot fail.
            data: serde_json::to_value(job).unwrap_or_default(),
            priority: K::PRIORITY,
            unique: job.unique_key(),
        }
    }
}

/// A queued job, as stored in Redis (JSON) and in `failed_jobs.payload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// UUID v7.
    pub id: String,
    pub tenant: String,
    /// `{"type": …, "data": …, …}` (a field of its own, not flattened: serde reads a flattened
    /// value through a buffer, which made reading a job cost more than its Redis round trip).
    pub task: Task,
    /// W3C `traceparent` of the request that queued it: the job's span continues that trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// Epoch microseconds (the wait to start of an idle queue is well under a millisecond).
    pub queued_at_us: i64,
}

impl Job {
    /// A new job for `tenant`, in the trace of the current span.
    pub fn new(tenant: &str, task: Task) -> Job {
        Job {
            id: uuid::Uuid::now_v7().to_string(),
            tenant: tenant.to_owned(),
            task,
            traceparent: telemetry::propagation::current_traceparent(),
            queued_at_us: chrono::Utc::now().timestamp_micros(),
        }
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and integers: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The wait before try `attempts + 1`: exponential from `first`, capped at 5 minutes, with
/// jitter over its upper half, so jobs that failed together (a database restart) do not all
/// come back in the same millisecond.
pub fn backoff(first: Duration, attempts: u32) -> Duration {
    let base = first
        .saturating_mul(1 << attempts.saturating_sub(1).min(16))
        .min(Duration::from_secs(300));
    let half = base / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize)]
    struct Reindex {
        id: String,
    }

    impl JobKind for Reindex {
        const NAME: &'static str = "Reindex";

        fn unique_key(&self) -> String {
            format!("reindex:{}", self.id)
        }
    }

    #[test]
    fn the_payload_round_trips_and_names_its_type() {
        let job = Job::new("acme", Task::of(&Reindex { id: "r_1".into() }));
        let json = job.to_json();
        assert!(
            json.contains(r#""type":"Reindex","data":{"id":"r_1"}"#),
            "{json}"
        );
        assert_eq!(job.task.unique, "reindex:r_1");
        assert_eq!(serde_json::from_str::<Job>(&json).ok(), Some(job));
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempts in 1..40 {
            let wait = backoff(Duration::from_secs(1), attempts);
            let base =
                Duration::from_secs(1 << (attempts - 1).min(16)).min(Duration::from_secs(300));
            assert!(wait >= base / 2 && wait <= base, "{attempts}: {wait:?}");
        }
    }
}
