//! The platform: what any multi-tenant service behind Kong needs, knowing nothing of the domain
//! that runs on it. The domain (here, insurance) registers what it has with it.

pub mod aws;
pub mod backlog;
pub mod breaker;
pub mod cache;
pub mod config;
pub mod db;
pub mod error;
pub mod queue;
pub mod redis;
pub mod secrets;
pub mod server;
pub mod tenancy;

use std::sync::{Arc, atomic::AtomicBool};

use crate::{
    broadcast::{Broadcasts, signature::Signer},
    documents::Documents,
    events::Events,
    platform::config::PlatformConfig,
};
use cache::Cache;
use queue::Jobs;
use redis::Redis;
use tenancy::Tenancy;

/// What every request, job and command of a service can reach: built once at start, shared.
pub struct Platform {
    pub config: PlatformConfig,
    pub tenancy: Tenancy,
    /// The read cache, seen through `Cache::tenant`.
    pub cache: Cache,
    pub kv: Option<Arc<Redis>>,
    /// Where the jobs that follow committed changes go.
    pub jobs: Arc<Jobs>,
    /// The outbox relay, run by jobs.
    pub events: Events,
    /// Where documents' bytes live.
    pub documents: Arc<Documents>,
    /// The sockets' channels and the fan-out.
    pub broadcasts: Arc<Broadcasts>,
    /// Signs and checks private-channel subscriptions.
    pub signer: Signer,
    /// Set on SIGTERM: readiness fails so traffic moves away before the server stops.
    pub draining: AtomicBool,
}
