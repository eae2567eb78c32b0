//! Work that runs on a clock, in every replica (the seed's console schedule): idle tenant pools
//! are let go every second (so an idle replica holds no tenant connection, with or without
//! traffic), and the expiry sweep runs. Every EXPIRY_SWEEP_SECS, and once at start, each active
//! tenant's active policies whose expiry date has passed become `expired`, each by a guarded
//! UPDATE with its PolicyExpired event, in one transaction per tenant, so two replicas sweeping
//! at once expire each policy once. Like the status recounts, a sweep borrows the tenant's pool
//! if it is open and otherwise a one-off connection (`Tenancy::borrow_db`), so it never keeps a
//! pool alive.

use std::{sync::Arc, time::Duration};

use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::{
    error::{Error, Result},
    observer::PolicyEvent,
    services,
    state::AppState,
    tenancy::Tenant,
};

/// How long one tenant's sweep may take before it is given up until the next round.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(30);

pub fn spawn(state: Arc<AppState>) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Two clocks, polled side by side: a long sweep never delays closing idle pools.
        let sweeps = async {
            let mut every = tokio::time::interval(state.config.expiry_sweep());
            every.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                sweep(&state).await;
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
        tokio::join!(sweeps, idle);
    })
}

/// One sweep over every active tenant; returns how many policies it expired.
pub async fn sweep(state: &AppState) -> u64 {
    let tenants = match state.tenancy.list_active().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "expiry sweep: cannot list tenants");
            return 0;
        }
    };
    let mut total = 0;
    for tenant in tenants {
        let expired = tokio::time::timeout(SWEEP_TIMEOUT, expire(state, &tenant)).await;
        match expired.unwrap_or_else(|_| Err(Error::Unavailable("timed out".into()))) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(tenant = %tenant.slug, expired = n, "expired policies past their term");
                state
                    .observer(&tenant.slug)
                    .committed(PolicyEvent::Swept(n))
                    .await;
                total += n;
            }
            Err(e) => tracing::warn!(tenant = %tenant.slug, error = %e, "expiry sweep failed"),
        }
    }
    total
}

async fn expire(state: &AppState, tenant: &Tenant) -> Result<u64> {
    let borrowed = state.tenancy.borrow_db(tenant).await?;
    let expired = services::policies::expire_due(borrowed.db()).await;
    borrowed.done().await;
    expired
}
