//! The search index kept in the process: the seed's `dispatch(new UpdateSearchIndex($policy))`
//! run by a background task of `serve` (the embedded way; the jobs issue moves it onto the Redis
//! queue and the worker). The PolicyObserver tells it which policies changed; it rewrites their
//! documents (`services::search`) right after, on the tenant's pool if open, else a one-off
//! connection. Requests for one policy made while it is busy are merged.
//!
//! What the in-process way gives up: a change whose process dies before its document is
//! rewritten leaves the document stale until that policy changes again or the tenant's next
//! expiry sweep (which reindexes the tenant). The queue will retry instead.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::task::JoinHandle;

use crate::{backlog::Backlog, observer::SearchIndex, services, state::AppState};

/// What is to be reindexed: one policy, or all of a tenant's.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Target {
    Policy(String),
    Tenant,
}

pub struct Indexer {
    /// (tenant, what) to reindex.
    pending: Backlog<(String, Target)>,
}

impl Default for Indexer {
    fn default() -> Indexer {
        describe();
        Indexer {
            pending: Backlog::default(),
        }
    }
}

impl Indexer {
    fn request(&self, tenant: &str, target: Target, scope: &'static str) {
        metrics::counter!("search_index_requests_total", "scope" => scope).increment(1);
        self.pending.add((tenant.to_owned(), target));
    }

    /// Waits (at most `within`) until every request is done.
    pub async fn settled(&self, within: Duration) {
        self.pending.settled(within).await;
    }
}

impl SearchIndex for Indexer {
    fn policy_changed(&self, tenant: &str, policy_id: &str) {
        self.request(tenant, Target::Policy(policy_id.to_owned()), "policy");
    }

    fn tenant_changed(&self, tenant: &str) {
        self.request(tenant, Target::Tenant, "tenant");
    }
}

/// Runs the requests until the process stops.
pub fn spawn(state: Arc<AppState>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let batch = state.search.pending.take().await;
            for (slug, target) in &batch.items {
                index(&state, slug, target).await;
            }
        }
    })
}

async fn index(state: &AppState, slug: &str, target: &Target) {
    let Ok(Some(tenant)) = state.tenancy.resolve(slug).await else {
        return;
    };
    let started = Instant::now();
    let done = match state.tenancy.borrow_db(&tenant).await {
        Ok(borrowed) => {
            let done = match target {
                Target::Policy(id) => services::search::index_policy(borrowed.db(), id).await,
                Target::Tenant => services::search::index_all(borrowed.db()).await,
            };
            borrowed.done().await;
            done
        }
        Err(e) => Err(e),
    };
    metrics::histogram!("search_index_duration_seconds").record(started.elapsed().as_secs_f64());
    let outcome = if done.is_ok() { "done" } else { "failed" };
    metrics::counter!("search_index_jobs_total", "outcome" => outcome).increment(1);
    if let Err(e) = done {
        tracing::warn!(tenant = slug, error = %e, "search index update failed");
    }
}

fn describe() {
    metrics::describe_counter!(
        "search_index_requests_total",
        "Search documents made out of date by committed changes, by scope (policy, tenant)"
    );
    metrics::describe_counter!(
        "search_index_jobs_total",
        "Search index updates run, by outcome (done, failed)"
    );
    metrics::describe_histogram!(
        "search_index_duration_seconds",
        metrics::Unit::Seconds,
        "One search index update (a policy, or a whole tenant)"
    );
    metrics::counter!("search_index_jobs_total", "outcome" => "failed").absolute(0);
}
