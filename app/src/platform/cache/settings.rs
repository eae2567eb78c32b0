//! The cache's variables: its keys' prefix in Redis and the in-process tier's size.

use clap::Args;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Redis and the cache")]
pub struct CacheConfig {
    /// What every cache key in Redis starts with, so services can share a Redis.
    #[arg(
        id = "redis_prefix",
        long = "redis-prefix",
        env = "REDIS_PREFIX",
        default_value = "policy_service_cache:"
    )]
    pub prefix: String,

    /// The most the in-process cache (L1) holds, in bytes of cached records; 0: no L1 (with
    /// Redis, every read goes to L2).
    #[arg(id = "cache_l1_max_bytes", long = "cache-l1-max-bytes", env = "CACHE_L1_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub l1_max_bytes: u64,
}
