//! The seed's `UpdateSearchIndex`: PolicyObserver asks for a policy's search document to be
//! rewritten after every committed change. This is the hook; the jobs issue implements it as a
//! queued job. Until then `Unindexed` counts what would have been indexed, so the rate of
//! index work is visible before the index exists.

/// Told of policies whose search document is out of date. Must not block: it is called on the
/// request path, after the commit.
pub trait SearchIndex: Send + Sync {
    /// The policy `policy_id` of tenant `tenant` changed.
    fn policy_changed(&self, tenant: &str, policy_id: &str);
    /// Many of the tenant's policies changed at once (the expiry sweep).
    fn tenant_changed(&self, tenant: &str);
}

/// No search index yet: counts the requests (`search_index_requests_total{scope}`).
pub struct Unindexed;

impl SearchIndex for Unindexed {
    fn policy_changed(&self, tenant: &str, policy_id: &str) {
        metrics::counter!("search_index_requests_total", "scope" => "policy").increment(1);
        tracing::debug!(tenant, policy_id, "search index: policy out of date");
    }

    fn tenant_changed(&self, tenant: &str) {
        metrics::counter!("search_index_requests_total", "scope" => "tenant").increment(1);
        tracing::debug!(tenant, "search index: tenant's policies out of date");
    }
}
