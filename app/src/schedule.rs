//! Work that runs on a clock, in every replica (the seed's console schedule): idle tenant pools
//! are let go every second (so an idle replica holds no tenant connection, with or without
//! traffic), and the expiry sweep runs. Every EXPIRY_SWEEP_SECS, and once at start, each active tenant's active policies
//! whose expiry date has passed become `expired`, in one guarded UPDATE per tenant, so two
//! replicas sweeping at once expire each policy once. Like the status recounts, a sweep borrows
//! the tenant's pool if it is open and otherwise uses a one-off connection, so it never keeps a
//! pool alive.

use std::{sync::Arc, time::Duration};

use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::{
    error::Result,
    observer::{self, PolicyEvent},
    services,
    state::AppState,
    tenancy::Tenant,
};

pub fn spawn(state: Arc<AppState>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut sweeps = tokio::time::interval(state.config.expiry_sweep());
        let mut idle = tokio::time::interval(Duration::from_secs(1));
        sweeps.set_missed_tick_behavior(MissedTickBehavior::Delay);
        idle.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = sweeps.tick() => {
                    sweep(&state).await;
                }
                _ = idle.tick() => state.tenancy.close_idle_pools(),
            }
        }
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
        match expire(state, &tenant).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(tenant = %tenant.slug, expired = n, "expired policies past their term");
                observer::committed(&tenant.slug, PolicyEvent::Swept(n));
                total += n;
            }
            Err(e) => tracing::warn!(tenant = %tenant.slug, error = %e, "expiry sweep failed"),
        }
    }
    total
}

async fn expire(state: &AppState, tenant: &Tenant) -> Result<u64> {
    match state.tenancy.open_db(tenant) {
        Some(db) => services::policies::expire_due(&db).await,
        None => {
            let db = state.tenancy.one_off_db(tenant)?;
            let expired = services::policies::expire_due(&db).await;
            db.close().await;
            expired
        }
    }
}
