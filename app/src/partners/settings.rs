//! The partner integration's variables (the seed's `http://camel-service:8080`).

use std::time::Duration;

use clap::Args;

use crate::platform::config::value::{millis, secs};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Partners (Camel)")]
pub struct PartnersConfig {
    /// The Camel service routing to partners, e.g. `http://camel-service:8080`. Unset: no
    /// partner is called (bound policies are not announced; rating answers 503).
    #[arg(long, env = "CAMEL_URL")]
    pub camel_url: Option<String>,

    /// The longest a partner call may take, in milliseconds; then it counts as a failure.
    #[arg(id = "partner_timeout_ms", long = "partner-timeout-ms", env = "PARTNER_TIMEOUT_MS", default_value = "2000", value_parser = millis)]
    pub timeout: Duration,

    /// Failures in a row (timeouts, connection errors, 5xx) that open a route's breaker (the
    /// seed's DestinationRule: 5 consecutive errors).
    #[arg(long, env = "PARTNER_BREAKER_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub partner_breaker_failures: u32,

    /// Seconds an open route stays open before one probe is let through (the seed's 30 s
    /// ejection).
    #[arg(id = "partner_breaker_open_secs", long = "partner-breaker-open-secs", env = "PARTNER_BREAKER_OPEN_SECS", default_value = "30", value_parser = secs)]
    pub breaker_open: Duration,
}
