//! The insurance domain's jobs, each a kind with its handler, registered with the platform's
//! queue (`kinds`). Every handler is idempotent (see each kind), which makes "at least once"
//! safe.

use std::sync::{Arc, Weak};

use serde::{Deserialize, Serialize};

use crate::{
    events::RelayOutbox,
    observer::PolicyEvent,
    platform::error::{Error, Result},
    platform::queue::{JobKind, Registry},
    platform::tenancy::Tenant,
    services,
    state::AppState,
};

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

/// Every kind the service runs, its handlers reaching the service's state through `state` (the
/// state owns the registry: a strong reference would keep both alive for good).
pub fn kinds(state: Weak<AppState>) -> Registry {
    let mut kinds = Registry::default();
    let on = move || {
        let state = state.clone();
        move || {
            state
                .upgrade()
                .ok_or_else(|| Error::Unavailable("shutting down".into()))
        }
    };
    let s = on();
    kinds.register(move |tenant: Arc<Tenant>, job: RelayOutbox| {
        let state = s();
        async move { relay(state?, tenant, job).await }
    });
    let s = on();
    kinds.register(move |tenant: Arc<Tenant>, job: UpdateSearchIndex| {
        let state = s();
        async move {
            let state = state?;
            let borrowed = state.tenancy.borrow_db(&tenant).await?;
            let done = services::search::index_policy(borrowed.db(), &job.policy_id).await;
            borrowed.done().await;
            done
        }
    });
    let s = on();
    kinds.register(move |tenant: Arc<Tenant>, job: ExpirePolicy| {
        let state = s();
        async move { expire(state?, tenant, job).await }
    });
    let s = on();
    kinds.register(move |tenant: Arc<Tenant>, job: NotifyPartner| {
        let state = s();
        async move {
            let state = state?;
            state
                .partners
                .send(&job.route, &tenant.id, job.data)
                .await
                .map(drop)
        }
    });
    let s = on();
    kinds.register(move |tenant: Arc<Tenant>, _: SweepDocuments| {
        let state = s();
        async move {
            let state = state?;
            let borrowed = state.tenancy.borrow_db(&tenant).await?;
            let swept =
                services::documents::sweep(&state.documents, borrowed.db(), &tenant.id).await;
            borrowed.done().await;
            swept.map(drop)
        }
    });
    kinds
}

async fn relay(state: Arc<AppState>, tenant: Arc<Tenant>, job: RelayOutbox) -> Result<()> {
    state.events.relay(&state, &tenant, job.sweep).await
}

async fn expire(state: Arc<AppState>, tenant: Arc<Tenant>, job: ExpirePolicy) -> Result<()> {
    let borrowed = state.tenancy.borrow_db(&tenant).await?;
    let expired = services::policies::expire_due(borrowed.db(), &job.policy_id).await;
    borrowed.done().await;
    if let Some(policy) = expired? {
        tracing::info!(tenant = %tenant.slug, policy_id = %job.policy_id, "expired a policy past its term");
        state
            .observer(&tenant.slug)
            .committed(PolicyEvent::Moved(&policy))
            .await;
    }
    Ok(())
}
