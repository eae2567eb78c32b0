//! `policies_by_status{tenant,status}` and `claims_by_status{tenant,status}`: how many policies
//! and claims each tenant has in each status, kept current without counting anything per scrape.
//!
//! Why recount instead of adding and subtracting on each transition: the counts are a fact of
//! the tenant's database, shared by every replica. A gauge moved by deltas is right only in the
//! replica that saw every write since its start; a recount is right in all of them. A recount is
//! one GROUP BY over an index that starts with `status` (see `store::statistics`), so it is cheap,
//! and it runs in the background, never in a request or a scrape.
//!
//! Two rhythms:
//! - every `METRICS_STATUS_REFRESH_MS`, the tenants whose policies or claims changed status
//!   through this replica (handlers call `changed`) are recounted: a write shows in seconds;
//! - every `METRICS_STATUS_RECOUNT_SECS`, and once at start, every tenant is, so writes made
//!   through other replicas show too, and every replica reports every tenant with values at most
//!   that old. Aggregate replicas with `max by (tenant, status)` (or `avg`), never `sum`.
//!
//! A count never keeps a tenant's pool alive: it borrows the pool if it is open, without counting
//! as use, and otherwise a one-off connection (`Tenancy::borrow_db`).
//!
//! Data structures, one `Board` per process (metrics are process-wide too): `changed`, the slugs
//! to recount in the next quick round; `shown`, per slug its metric label and last counts. The
//! `other` label (tenants past `METRICS_TENANT_LABELS`) is their sum, set once per round.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, LazyLock, Mutex, MutexGuard},
    time::Duration,
};

use futures::StreamExt;
use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::{
    platform::{Platform, tenancy::Tenant},
    services::statistics::{StatusCounts, status_counts},
};

/// Tenants counted at once: counts must not crowd out requests for connections.
const CONCURRENCY: usize = 2;
const COUNT_TIMEOUT: Duration = Duration::from_secs(30);
const OTHER: &str = "other";

#[derive(Default)]
struct Board {
    changed: HashSet<String>,
    shown: HashMap<String, Shown>,
}

struct Shown {
    label: String,
    counts: StatusCounts,
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

/// The tenant's policies or claims changed status: recount them in the next quick round.
pub fn changed(slug: &str) {
    if telemetry::metrics::installed() {
        board().changed.insert(slug.to_owned());
    }
}

/// Starts the recounts when a metrics recorder is installed (without one the gauges go
/// nowhere): those written to through this replica every `refresh`, every tenant every
/// `recount`. Abort the task to stop them.
pub fn spawn(state: Arc<Platform>, refresh: Duration, recount: Duration) -> Option<JoinHandle<()>> {
    telemetry::metrics::installed().then(|| tokio::spawn(run(state, refresh, recount)))
}

async fn run(state: Arc<Platform>, refresh: Duration, recount: Duration) {
    let mut quick = tokio::time::interval(refresh);
    let mut full = tokio::time::interval(recount);
    quick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    full.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let tenants = tokio::select! {
            _ = full.tick() => match state.tenancy.list().await {
                Ok(tenants) => tenants,
                Err(e) => {
                    tracing::warn!(error = %e, "status gauges: cannot list tenants");
                    continue;
                }
            },
            _ = quick.tick() => {
                let due = std::mem::take(&mut board().changed);
                resolve(&state, due).await
            }
        };
        futures::stream::iter(tenants)
            .for_each_concurrent(CONCURRENCY, |tenant| count(&state, tenant))
            .await;
        show_other(&board());
    }
}

async fn resolve(state: &Platform, slugs: HashSet<String>) -> Vec<Tenant> {
    let mut tenants = Vec::with_capacity(slugs.len());
    for slug in slugs {
        match state.tenancy.resolve(&slug).await {
            Ok(Some(tenant)) => tenants.push((*tenant).clone()),
            Ok(None) => {}
            Err(e) => tracing::warn!(tenant = %slug, error = %e, "status gauges: cannot resolve"),
        }
    }
    tenants
}

async fn count(state: &Platform, tenant: Tenant) {
    let counted = async {
        let borrowed = state.tenancy.borrow_db(&tenant).await?;
        let counts = status_counts(borrowed.db()).await;
        borrowed.done().await;
        counts
    };
    match tokio::time::timeout(COUNT_TIMEOUT, counted).await {
        Ok(Ok(counts)) => show(&tenant.slug, counts),
        Ok(Err(e)) => {
            tracing::warn!(tenant = %tenant.slug, error = %e, "status gauges not recounted")
        }
        Err(_) => tracing::warn!(tenant = %tenant.slug, "status gauges: recount timed out"),
    }
}

/// Keeps the tenant's counts and, unless it folds into `other`, sets its gauges: under the
/// board's lock, so two counts of one tenant cannot land out of order.
fn show(slug: &str, counts: StatusCounts) {
    let label = super::tenant(slug);
    let mut board = board();
    if label != OTHER {
        set_gauges(&label, &counts);
    }
    board.shown.insert(slug.to_owned(), Shown { label, counts });
}

/// `other` is the sum of the tenants past the label cap; set once per round, not per tenant.
fn show_other(board: &Board) {
    let mut folded = board.shown.values().filter(|s| s.label == OTHER).peekable();
    if folded.peek().is_none() {
        return;
    }
    let sum = folded.fold(StatusCounts::zero(), |sum, s| sum.plus(&s.counts));
    set_gauges(OTHER, &sum);
}

fn set_gauges(label: &str, counts: &StatusCounts) {
    for (name, counts) in [
        ("policies_by_status", &counts.policies),
        ("claims_by_status", &counts.claims),
    ] {
        for (status, n) in counts {
            metrics::gauge!(name, "tenant" => label.to_owned(), "status" => *status).set(*n as f64);
        }
    }
}
