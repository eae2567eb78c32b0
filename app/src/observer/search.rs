//! The seed's `UpdateSearchIndex`: PolicyObserver asks for a policy's search document to be
//! rewritten after every committed change. This is the hook; `search::Indexer` runs it in the
//! process today, and the jobs issue will make it a queued job.

/// Told of policies whose search document is out of date. Must not block: it is called on the
/// request path, after the commit.
pub trait SearchIndex: Send + Sync {
    /// The policy `policy_id` of tenant `tenant` changed.
    fn policy_changed(&self, tenant: &str, policy_id: &str);
    /// Many of the tenant's policies changed at once (the expiry sweep).
    fn tenant_changed(&self, tenant: &str);
}
