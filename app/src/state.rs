//! What every request can reach: configuration, the tenancy (landlord and tenant pools), the
//! read cache, the optional Redis connection and what listens to committed changes. Built once by
//! `startup`, shared as `Arc<AppState>`.

use std::sync::{Arc, atomic::AtomicBool};

use crate::{
    cache::Cache, config::Config, events::Events, kv::Kv, observer::Observer, search::Indexer,
    tenancy::Tenancy,
};

pub struct AppState {
    pub config: Config,
    pub tenancy: Tenancy,
    /// The read cache (`cache`), seen through `Cache::tenant`.
    pub cache: Cache,
    pub kv: Option<Arc<Kv>>,
    /// The search index, told of every committed policy change (`observer`).
    pub search: Arc<Indexer>,
    /// The outbox relay, nudged after each commit (`events`).
    pub events: Arc<Events>,
    /// Set on SIGTERM: readiness fails so traffic moves away before the server stops.
    pub draining: AtomicBool,
}

impl AppState {
    /// What a committed change of tenant `slug` is reported to.
    pub fn observer(&self, slug: &str) -> Observer {
        Observer::new(
            self.cache.tenant(slug),
            slug,
            self.search.clone(),
            self.events.clone(),
        )
    }
}
