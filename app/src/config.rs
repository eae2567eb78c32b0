//! The service's configuration: the platform's (`platform::config`) and the insurance
//! domain's own settings, read together from the environment by clap.

use std::time::Duration;

use clap::Args;

use crate::{
    domain::underwriting::Rules,
    partners::settings::PartnersConfig,
    platform::config::{
        PlatformConfig,
        value::{millis, secs},
    },
};

#[derive(Debug, Clone, Args)]
pub struct Config {
    #[command(flatten)]
    pub platform: PlatformConfig,

    #[command(flatten)]
    pub insurance: InsuranceConfig,
}

/// What only the insurance domain reads.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Insurance")]
pub struct InsuranceConfig {
    /// How many days before today cover may start (backdating); 0: today or later.
    #[arg(long, env = "UNDERWRITING_BACKDATE_DAYS", default_value_t = 0)]
    pub underwriting_backdate_days: u64,

    /// The longest term a quote may have, in days (1096: three years).
    #[arg(long, env = "UNDERWRITING_MAX_TERM_DAYS", default_value_t = 1096)]
    pub underwriting_max_term_days: u64,

    /// How often (s) active policies past their expiry date are expired.
    #[arg(id = "expiry_sweep_secs", long = "expiry-sweep-secs", env = "EXPIRY_SWEEP_SECS", default_value = "3600", value_parser = secs)]
    pub expiry_sweep: Duration,

    /// How often (ms) the `policies_by_status` / `claims_by_status` gauges of tenants written to
    /// through this replica are recounted (one indexed GROUP BY each).
    #[arg(id = "metrics_status_refresh_ms", long = "metrics-status-refresh-ms", env = "METRICS_STATUS_REFRESH_MS", default_value = "5000", value_parser = millis)]
    pub metrics_status_refresh: Duration,

    /// How often (s) every tenant's status gauges are recounted, to pick up writes made through
    /// other replicas; the first recount runs at start.
    #[arg(id = "metrics_status_recount_secs", long = "metrics-status-recount-secs", env = "METRICS_STATUS_RECOUNT_SECS", default_value = "60", value_parser = secs)]
    pub metrics_status_recount: Duration,

    #[command(flatten)]
    pub partners: PartnersConfig,
}

impl InsuranceConfig {
    pub fn underwriting(&self) -> Rules {
        Rules {
            backdate_days: self.underwriting_backdate_days,
            max_term_days: self.underwriting_max_term_days,
        }
    }
}
