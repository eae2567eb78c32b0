//! What every request can reach: configuration, the tenancy (landlord and tenant pools), the
//! read cache and the optional Redis connection. Built once by `startup`, shared as `Arc<AppState>`.

use std::sync::atomic::AtomicBool;

use crate::{cache::Cache, config::Config, tenancy::Tenancy};

pub struct AppState {
    pub config: Config,
    pub tenancy: Tenancy,
    /// The read cache (`cache`), seen through `Cache::tenant`.
    pub cache: Cache,
    pub redis: Option<redis::aio::ConnectionManager>,
    /// Set on SIGTERM: readiness fails so traffic moves away before the server stops.
    pub draining: AtomicBool,
}
