//! What every request can reach: configuration, the tenancy (landlord and tenant pools), the
//! read cache, the optional Redis connection, the jobs, the event relay and the document store. Built once by
//! `startup`, shared as `Arc<AppState>`.

use std::sync::{Arc, atomic::AtomicBool};

use crate::{
    broadcast::{Broadcasts, signature::Signer},
    config::Config,
    documents::Documents,
    events::Events,
    observer::Observer,
    partners::Partners,
    platform::cache::Cache,
    platform::redis::Redis,
    platform::tenancy::Tenancy,
    queue::Jobs,
};

pub struct AppState {
    pub config: Config,
    pub tenancy: Tenancy,
    /// The read cache (`cache`), seen through `Cache::tenant`.
    pub cache: Cache,
    pub kv: Option<Arc<Redis>>,
    /// Where the jobs that follow committed changes go (`queue`).
    pub jobs: Arc<Jobs>,
    /// The outbox relay, run by jobs (`events`).
    pub events: Events,
    /// The partner routes, through Camel (`partners`).
    pub partners: Arc<Partners>,
    /// Where documents' bytes live (`documents`).
    pub documents: Arc<Documents>,
    /// The sockets' channels and the fan-out (`broadcast`).
    pub broadcasts: Arc<Broadcasts>,
    /// Signs and checks private-channel subscriptions.
    pub signer: Signer,
    /// Set on SIGTERM: readiness fails so traffic moves away before the server stops.
    pub draining: AtomicBool,
}

impl AppState {
    /// What a committed change of tenant `slug` is reported to.
    pub fn observer(&self, slug: &str) -> Observer {
        Observer::new(
            self.cache.tenant(slug),
            slug,
            self.jobs.clone(),
            self.partners.configured(),
        )
    }
}
