//! Redis's variables: where it is and how long one call may take.

use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use crate::platform::config::value::{Unit, duration};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Redis and the cache")]
pub struct RedisConfig {
    /// REDIS_URL (a secret: `platform::config::secret`).
    #[arg(skip)]
    pub url: Option<SecretString>,

    /// `REDIS_URL` is a node of a Redis Cluster (implied by a list of nodes).
    #[arg(
        id = "redis_cluster",
        long = "redis-cluster",
        env = "REDIS_CLUSTER",
        default_value_t = false
    )]
    pub cluster: bool,

    /// The most one Redis call may take (ms), and how long a write waits for the other replicas
    /// to acknowledge its invalidations; past it, the call fails (a cache read is then a miss).
    #[arg(id = "redis_timeout_ms", long = "redis-timeout-ms", env = "REDIS_TIMEOUT_MS", default_value = "250", value_parser = duration(Unit::Millis, 10, 60_000))]
    pub timeout: Duration,
}
