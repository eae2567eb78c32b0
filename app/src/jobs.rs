//! The insurance domain's kinds of job: what each carries, its queue and its tries. Their
//! handlers are `job_handlers`'; every one is idempotent (see each kind), which makes "at least
//! once" safe.

use serde::{Deserialize, Serialize};

use crate::platform::queue::JobKind;

/// The seed's `UpdateSearchIndex($policy)`: rewrite the policy's search document from the
/// database (a rewrite of the current state: idempotent).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateSearchIndex {
    pub policy_id: String,
}

impl JobKind for UpdateSearchIndex {
    const NAME: &'static str = "UpdateSearchIndex";

    fn unique_key(&self) -> String {
        format!("search:{}", self.policy_id)
    }
}

/// Expire a policy past its term: a guarded UPDATE and its PolicyExpired event in one
/// transaction, so a second run finds it expired and does nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpirePolicy {
    pub policy_id: String,
}

impl JobKind for ExpirePolicy {
    const NAME: &'static str = "ExpirePolicy";

    fn unique_key(&self) -> String {
        format!("expire:{}", self.policy_id)
    }
}

/// Move an ended (expired or cancelled) policy's private documents to the archive class: a
/// copy of each object onto itself in GLACIER, then its row. Archived ones are passed over, so a
/// second run does nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchivePolicyDocuments {
    pub policy_id: String,
}

impl JobKind for ArchivePolicyDocuments {
    const NAME: &'static str = "ArchivePolicyDocuments";

    fn unique_key(&self) -> String {
        format!("archive:{}", self.policy_id)
    }
}

/// Clean up after the tenant's uploads and deletes that did not finish: their objects, then
/// their rows (see `documents`). Deleting twice is harmless; the next sweep does a failed one's
/// work, so it is not kept when it fails.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepDocuments;

impl JobKind for SweepDocuments {
    const NAME: &'static str = "SweepDocuments";
    const MAX_TRIES: u32 = 3;
    const KEPT_WHEN_FAILED: bool = false;

    fn unique_key(&self) -> String {
        "documents-sweep".to_owned()
    }
}

/// Tell a partner route about a change (the seed's CamelIntegrationService), after the
/// response: a partner outage delays the notice, never the request. `data` carries the record's
/// id, which a partner can use to ignore a repeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotifyPartner {
    pub route: String,
    pub data: serde_json::Value,
}

impl JobKind for NotifyPartner {
    const NAME: &'static str = "NotifyPartner";
    // A partner down for its breaker's 30 s and more: the backoff's tries span minutes.
    const MAX_TRIES: u32 = 8;

    fn unique_key(&self) -> String {
        let id = self.data["id"].as_str().unwrap_or_default();
        format!("partner:{}:{id}", self.route)
    }
}
