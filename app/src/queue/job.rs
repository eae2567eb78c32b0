//! A job: what to do (`Task`), for which tenant, and what the queue needs to run it once.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The two queues of every tenant, in the order a worker serves them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
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

/// What a job does. Every handler is idempotent: running a job twice leaves what running it once
/// does (see each variant), which is what makes "at least once" safe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Task {
    /// The seed's `UpdateSearchIndex($policy)`: rewrite the policy's search document from the
    /// database (a rewrite of the current state: idempotent).
    UpdateSearchIndex { policy_id: String },
    /// Publish the tenant's unsent outbox events; with `sweep`, also prune sent ones and measure
    /// the oldest unsent. Events carry their id, so a republish is deduplicated downstream.
    RelayOutbox { sweep: bool },
    /// Expire a policy past its term: a guarded UPDATE and its PolicyExpired event in one
    /// transaction, so a second run finds it expired and does nothing.
    ExpirePolicy { policy_id: String },
    /// Clean up after the tenant's uploads and deletes that did not finish: their objects, then
    /// their rows (see `documents`). Deleting twice is harmless.
    SweepDocuments,
    /// Tell a partner route about a change (the seed's CamelIntegrationService), after the
    /// response: a partner outage delays the notice, never the request. `data` carries the
    /// record's id, which a partner can use to ignore a repeat.
    NotifyPartner {
        route: String,
        data: serde_json::Value,
    },
}

impl Task {
    pub fn name(&self) -> &'static str {
        match self {
            Task::UpdateSearchIndex { .. } => "UpdateSearchIndex",
            Task::RelayOutbox { .. } => "RelayOutbox",
            Task::ExpirePolicy { .. } => "ExpirePolicy",
            Task::SweepDocuments => "SweepDocuments",
            Task::NotifyPartner { .. } => "NotifyPartner",
        }
    }

    pub const NAMES: [&'static str; 5] = [
        "UpdateSearchIndex",
        "RelayOutbox",
        "ExpirePolicy",
        "SweepDocuments",
        "NotifyPartner",
    ];

    /// Events are what other systems wait for: they go first.
    pub fn priority(&self) -> Priority {
        match self {
            Task::RelayOutbox { .. } => Priority::High,
            Task::UpdateSearchIndex { .. }
            | Task::ExpirePolicy { .. }
            | Task::SweepDocuments
            | Task::NotifyPartner { .. } => Priority::Default,
        }
    }

    /// While a job with this key waits in the queue, the same job is not queued again (it would
    /// do the same work): Laravel's `ShouldBeUniqueUntilProcessing`. Released when a worker
    /// takes the job, so a change made while it runs queues another.
    pub fn unique_key(&self) -> String {
        match self {
            Task::UpdateSearchIndex { policy_id } => format!("search:{policy_id}"),
            Task::RelayOutbox { sweep: false } => "relay".to_owned(),
            Task::RelayOutbox { sweep: true } => "relay-sweep".to_owned(),
            Task::ExpirePolicy { policy_id } => format!("expire:{policy_id}"),
            Task::SweepDocuments => "documents-sweep".to_owned(),
            Task::NotifyPartner { route, data } => {
                format!(
                    "partner:{route}:{}",
                    data["id"].as_str().unwrap_or_default()
                )
            }
        }
    }

    /// Whether a job that used up its tries is kept in failed jobs. A sweep's is not: the next
    /// sweep does its work (a relay's events wait in the outbox, unfinished documents in theirs).
    pub fn kept_when_failed(&self) -> bool {
        !matches!(self, Task::RelayOutbox { .. } | Task::SweepDocuments)
    }

    /// Tries before the job counts as failed.
    pub fn max_tries(&self) -> u32 {
        match self {
            // The sweep queues them again anyway; a relay that cannot publish is retried by it.
            Task::RelayOutbox { .. } | Task::SweepDocuments => 3,
            Task::UpdateSearchIndex { .. } | Task::ExpirePolicy { .. } => 5,
            // A partner down for its breaker's 30 s and more: the backoff's tries span minutes.
            Task::NotifyPartner { .. } => 8,
        }
    }
}

/// A queued job, as stored in Redis (JSON) and in `failed_jobs.payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// UUID v7.
    pub id: String,
    pub tenant: String,
    /// `{"type": …, "data": …}` (a field of its own, not flattened: serde reads a flattened enum
    /// through a buffer, which made reading a job cost more than its Redis round trip).
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

    #[test]
    fn the_payload_round_trips_and_names_its_type() {
        let job = Job::new(
            "acme",
            Task::UpdateSearchIndex {
                policy_id: "pol_1".into(),
            },
        );
        let json = job.to_json();
        assert!(json.contains(r#""type":"UpdateSearchIndex""#), "{json}");
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
