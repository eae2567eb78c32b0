//! The gateway's variables: the rate limits Kong gives each consumer, which the service counts
//! against (`usage`).

use clap::Args;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Gateway (Kong)")]
pub struct GatewayConfig {
    /// Requests a Kong consumer may make per minute: the `minute` of the rate-limiting plugin in
    /// deploy/kong/kong.yaml (deploy/check.sh checks the two agree). 0: no such limit.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 1200)]
    pub rate_limit_per_minute: u64,

    /// Requests a Kong consumer may make per hour: the plugin's `hour`. 0: no such limit.
    #[arg(long, env = "RATE_LIMIT_PER_HOUR", default_value_t = 50_000)]
    pub rate_limit_per_hour: u64,

    /// Warn (the seed's ApiRateLimiter: `API rate limit approaching`) once a consumer has this
    /// many requests or fewer left in a window, once per window.
    #[arg(long, env = "RATE_LIMIT_WARN_REMAINING", default_value_t = 10)]
    pub rate_limit_warn_remaining: u64,
}
