//! `policies_by_status{tenant,status}` and `claims_by_status{tenant,status}`: how many policies
//! and claims each tenant has in each status, kept current without counting anything per scrape.
//!
//! Why recount instead of adding and subtracting on each transition: the counts are a fact of
//! the tenant's database, shared by every replica. A gauge moved by deltas is right only in the
//! replica that saw every write since its start; a recount is right in all of them. A recount is
//! one GROUP BY over an index that starts with `status` (see `store::statistics`), so it is cheap,
//! and it runs in the background, never in a request or a scrape.
//!
//! Data structures, one `Board` per process (metrics are process-wide too):
//! - `changed`: the slugs of tenants whose policies or claims changed status since the last
//!   round; handlers add to it after a successful write.
//! - `counts`: the last counts per tenant slug, with the tenant's database name. It is what the
//!   gauges show, and what `other` is summed from when tenants fold past the label cap.
//!
//! The refresher (`spawn`) marks every active tenant at start, so the gauges exist after a
//! restart, then each `METRICS_STATUS_REFRESH_MS` recounts the changed tenants. Every twelfth
//! round it also recounts the tenants it shows whose pool is open here (used lately), so writes
//! made through other replicas show within a minute at the default interval. Replicas report the
//! same series: aggregate them with `max by (tenant, status)`, not `sum`.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, LazyLock, Mutex, MutexGuard},
    time::Duration,
};

use futures::StreamExt;
use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::{
    services::statistics::{StatusCounts, status_counts},
    state::AppState,
};

/// Rounds between two recounts of every tenant shown whose pool is open.
const FULL_ROUND_EVERY: u64 = 12;
/// Tenants recounted at once: the refresher must not crowd out requests for connections.
const CONCURRENCY: usize = 2;

#[derive(Default)]
struct Board {
    changed: HashSet<String>,
    counts: HashMap<String, (String, StatusCounts)>,
}

static BOARD: LazyLock<Mutex<Board>> = LazyLock::new(Mutex::default);

fn board() -> MutexGuard<'static, Board> {
    // A panic while holding the lock leaves plain data behind, still fit to use.
    BOARD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(super) fn describe() {
    metrics::describe_gauge!(
        "policies_by_status",
        "Policies per tenant and status, recounted in the background"
    );
    metrics::describe_gauge!(
        "claims_by_status",
        "Claims per tenant and status, recounted in the background"
    );
}

/// The tenant's policies or claims changed status: recount them in the next round.
pub fn changed(slug: &str) {
    if telemetry::metrics::installed() {
        board().changed.insert(slug.to_owned());
    }
}

/// Starts the refresher when a metrics recorder is installed (without one the gauges go
/// nowhere).
pub fn spawn(state: Arc<AppState>) -> Option<JoinHandle<()>> {
    telemetry::metrics::installed().then(|| tokio::spawn(run(state)))
}

async fn run(state: Arc<AppState>) {
    match state.tenancy.list_active().await {
        Ok(tenants) => board().changed.extend(tenants.into_iter().map(|t| t.slug)),
        Err(e) => tracing::warn!(error = %e, "status gauges: cannot list tenants"),
    }
    let mut tick = tokio::time::interval(state.config.metrics_status_refresh());
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for round in 1u64.. {
        tick.tick().await;
        let mut due: HashSet<String> = std::mem::take(&mut board().changed);
        if round % FULL_ROUND_EVERY == 0 {
            due.extend(open_here(&state));
        }
        futures::stream::iter(due)
            .for_each_concurrent(CONCURRENCY, |slug| refresh(&state, slug))
            .await;
    }
}

/// The tenants shown whose pool is open in this process.
fn open_here(state: &AppState) -> Vec<String> {
    let open: HashSet<String> = state.tenancy.open_databases().into_iter().collect();
    board()
        .counts
        .iter()
        .filter(|(_, (database, _))| open.contains(database))
        .map(|(slug, _)| slug.clone())
        .collect()
}

async fn refresh(state: &AppState, slug: String) {
    let counted = async {
        let Some(tenant) = state.tenancy.resolve(&slug).await? else {
            return Ok(None);
        };
        let db = state.tenancy.db(&tenant).await?;
        Ok::<_, crate::error::Error>(Some((
            tenant.database.as_str().to_owned(),
            status_counts(&db).await?,
        )))
    };
    match tokio::time::timeout(Duration::from_secs(30), counted).await {
        Ok(Ok(Some((database, counts)))) => publish(&slug, database, counts),
        Ok(Ok(None)) => {
            board().counts.remove(&slug);
        }
        Ok(Err(e)) => tracing::warn!(tenant = %slug, error = %e, "status gauges not refreshed"),
        Err(_) => tracing::warn!(tenant = %slug, "status gauges: recount timed out"),
    }
}

/// Stores the tenant's counts and sets its gauges; a tenant past the label cap adds to `other`.
fn publish(slug: &str, database: String, counts: StatusCounts) {
    let label = super::tenant(slug);
    let mut board = board();
    board
        .counts
        .insert(slug.to_owned(), (database, counts.clone()));
    let shown = if label == "other" {
        board
            .counts
            .iter()
            .filter(|(s, _)| super::tenant(s) == "other")
            .fold(StatusCounts::zero(), |sum, (_, (_, c))| sum.plus(c))
    } else {
        counts
    };
    drop(board);
    for (name, counts) in [
        ("policies_by_status", &shown.policies),
        ("claims_by_status", &shown.claims),
    ] {
        for (status, n) in counts {
            metrics::gauge!(name, "tenant" => label.clone(), "status" => *status).set(*n as f64);
        }
    }
}
