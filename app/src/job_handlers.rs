//! What runs the insurance domain's jobs (`jobs`): each kind's handler, registered with the
//! platform's queue next to the platform's own kinds.

use std::sync::{Arc, Weak};

use crate::{
    jobs::{
        ArchivePolicyDocuments, ExpirePolicy, NotifyPartner, SweepDocuments, UpdateSearchIndex,
    },
    observer::PolicyEvent,
    platform::error::{Error, Result},
    platform::queue::Registry,
    platform::tenancy::Tenant,
    services,
    state::AppState,
};

/// Every kind the service runs: the platform's `kinds` and the domain's, their handlers reaching
/// the service's state through `state` (the state owns the registry: a strong reference would
/// keep both alive for good).
pub fn kinds(mut kinds: Registry, state: Weak<AppState>) -> Registry {
    let on = move || {
        let state = state.clone();
        move || {
            state
                .upgrade()
                .ok_or_else(|| Error::Unavailable("shutting down".into()))
        }
    };
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
    let s = on();
    kinds.register(move |tenant: Arc<Tenant>, job: ArchivePolicyDocuments| {
        let state = s();
        async move {
            let state = state?;
            let borrowed = state.tenancy.borrow_db(&tenant).await?;
            let archived = services::documents::archive_policy(
                &state.documents,
                borrowed.db(),
                &tenant.id,
                &job.policy_id,
            )
            .await;
            borrowed.done().await;
            if let Ok(n @ 1..) = archived {
                tracing::info!(tenant = %tenant.slug, policy_id = %job.policy_id, documents = n, "archived an ended policy's documents");
            }
            archived.map(drop)
        }
    });
    kinds
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
