//! The service's configuration: the platform's (`platform::config`) and the insurance
//! domain's own settings, read together from the environment by clap.

use std::time::Duration;

use clap::Args;

use crate::{
    domain::underwriting::Rules, partners::settings::PartnersConfig,
    platform::config::PlatformConfig,
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
    #[arg(long, env = "EXPIRY_SWEEP_SECS", default_value_t = 3600)]
    pub expiry_sweep_secs: u64,

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

    pub fn expiry_sweep(&self) -> Duration {
        Duration::from_secs(self.expiry_sweep_secs.max(1))
    }
}
