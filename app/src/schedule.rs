//! Work that runs on a clock, in every `serve` replica (the seed's console schedule):
//! - idle tenant pools are let go every second (so an idle replica holds no tenant connection,
//!   with or without traffic);
//! - every EXPIRY_SWEEP_SECS, and once at start, each active tenant's active policies past their
//!   expiry date get an `ExpirePolicy` job each;
//! - every OUTBOX_SWEEP_SECS, each active tenant gets a sweeping `RelayOutbox` job (see `platform::outbox`);
//! - every DOCUMENTS_SWEEP_SECS, and once at start, each active tenant gets a `SweepDocuments`
//!   job, which cleans up after uploads and deletes that did not finish (see `documents`).
//!
//! The clocks only queue jobs; jobs do the work (`queue`). Two replicas queueing the same job
//! at once queue it once (its unique key), and the jobs themselves are guarded, so a policy is
//! expired once however many replicas sweep. Finding the due policies borrows the tenant's pool
//! if it is open and otherwise a one-off connection (`Tenancy::borrow_db`), so a sweep never
//! keeps a pool alive.

use std::{sync::Arc, time::Duration};

use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::{
    jobs::{ExpirePolicy, SweepDocuments},
    platform::error::{Error, Result},
    platform::outbox::RelayOutbox,
    platform::queue::Task,
    platform::tenancy::Tenant,
    services,
    state::AppState,
};

/// How long one tenant's search for due policies may take before it waits for the next round.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(30);

pub fn spawn(state: Arc<AppState>) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Four clocks, polled side by side: a long sweep never delays closing idle pools.
        let expiry = async {
            let mut every = tokio::time::interval(state.insurance.expiry_sweep);
            every.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                sweep(&state).await;
            }
        };
        let outbox = async {
            // The first one period after start: a start has nothing to catch up yet.
            let period = state.config.outbox.sweep;
            let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            every.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                for_each_tenant(&state, || Task::of(&RelayOutbox { sweep: true })).await;
            }
        };
        let idle = async {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                state.tenancy.close_idle_pools();
            }
        };
        let documents = async {
            let period = state.config.documents.sweep;
            let mut every = tokio::time::interval(period);
            every.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                for_each_tenant(&state, || Task::of(&SweepDocuments)).await;
            }
        };
        tokio::join!(expiry, outbox, documents, idle);
    })
}

/// One expiry sweep over every active tenant; returns how many `ExpirePolicy` jobs it queued.
pub async fn sweep(state: &AppState) -> usize {
    let tenants = match state.tenancy.list_active().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "expiry sweep: cannot list tenants");
            return 0;
        }
    };
    let mut total = 0;
    for tenant in tenants {
        let due = tokio::time::timeout(SWEEP_TIMEOUT, due(state, &tenant)).await;
        match due.unwrap_or_else(|_| Err(Error::Unavailable("timed out".into()))) {
            Ok(ids) if ids.is_empty() => {}
            Ok(ids) => {
                tracing::info!(tenant = %tenant.slug, due = ids.len(), "queued the expiry of policies past their term");
                total += ids.len();
                let tasks = ids
                    .into_iter()
                    .map(|policy_id| Task::of(&ExpirePolicy { policy_id }));
                state.jobs.dispatch(&tenant.slug, tasks).await;
            }
            Err(e) => tracing::warn!(tenant = %tenant.slug, error = %e, "expiry sweep failed"),
        }
    }
    total
}

async fn due(state: &AppState, tenant: &Tenant) -> Result<Vec<String>> {
    let borrowed = state.tenancy.borrow_db(tenant).await?;
    let due = services::policies::due_for_expiry(borrowed.db()).await;
    borrowed.done().await;
    due
}

/// One job for every active tenant: a sweeping relay (what a relay missed goes out, sent rows
/// are pruned), or a documents sweep.
async fn for_each_tenant(state: &AppState, task: impl Fn() -> Task) {
    let Ok(tenants) = state.tenancy.list_active().await else {
        return;
    };
    for tenant in tenants {
        state.jobs.dispatch(&tenant.slug, [task()]).await;
    }
}
