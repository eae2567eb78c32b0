//! The platform's configuration, read from the environment (12-factor) by clap, so every
//! variable is validated at start-up, listed by `policy-service --help`, and mirrored in
//! `.env.example`. Each subsystem owns its settings (`server::settings`, `tenancy::settings`,
//! `redis::settings`, …), typed once (`value`: durations in the unit their names give); this
//! struct holds the service-wide ones and gathers the rest. A field is named for what it is
//! (`redis.timeout`); its flag and clap id for its variable (`--redis-timeout-ms`), which keeps
//! ids unique across subsystems and the flags what they always were.
//!
//! With nothing set the service runs on embedded defaults: SQLite files under `./data`, no Redis,
//! logs to stdout. Secrets are not flags: they come from the environment or a file (`secret`),
//! into `SecretString`s, whose `Debug` prints `[REDACTED]`.

pub mod laravel;
pub mod secret;
pub mod telemetry;
pub mod value;

use clap::{Args, ValueEnum};
use secrecy::SecretString;

use crate::platform::{
    broadcast::settings::BroadcastConfig, cache::settings::CacheConfig,
    documents::settings::DocumentsConfig, error::Result, gateway::settings::GatewayConfig,
    outbox::settings::OutboxConfig, queue::settings::QueueConfig, redis::settings::RedisConfig,
    server::settings::ServerConfig, tenancy::settings::DatabaseConfig, tls::TlsSettings,
};

#[derive(Debug, Clone, Args)]
pub struct PlatformConfig {
    /// Service name: the `app` label of logs and metrics.
    #[arg(
        help_heading = "Service",
        long,
        env = "APP_NAME",
        default_value = "policy-service"
    )]
    pub app_name: String,

    /// `development` (or `local`, `testing`) logs pretty text; `staging` and `production` JSON,
    /// and require what production does. It also gates the demo tenant.
    #[arg(help_heading = "Service", long, env = "APP_ENV", value_enum, default_value_t = AppEnv::Development)]
    pub app_env: AppEnv,

    /// The service's own base URL, as clients reach it (Laravel's APP_URL): the start of the
    /// URLs it hands out for the local disk's objects.
    #[arg(
        help_heading = "Service",
        long,
        env = "APP_URL",
        default_value = "http://localhost:8080"
    )]
    pub app_url: String,

    /// APP_KEY (a secret: `secret::SECRETS`).
    #[arg(skip)]
    pub app_key: Option<SecretString>,

    /// The CDN in front of the public bucket and the service's static assets (the Swagger UI's),
    /// e.g. `https://cdn.example.com`. Used when APP_ENV=production (the seed's AssetService);
    /// otherwise URLs are the service's or the bucket's own.
    #[arg(help_heading = "Service", long, env = "CDN_BASE_URL")]
    pub cdn_base_url: Option<String>,

    /// GATEWAY_SECRET (a secret).
    #[arg(skip)]
    pub gateway_secret: Option<SecretString>,

    /// Create the `demo` tenant on first start. Defaults to on for SQLite in development.
    #[arg(help_heading = "Service", long, env = "DEMO_TENANT")]
    pub demo_tenant: Option<bool>,

    #[command(flatten)]
    pub server: ServerConfig,

    #[command(flatten)]
    pub database: DatabaseConfig,

    #[command(flatten)]
    pub documents: DocumentsConfig,

    #[command(flatten)]
    pub telemetry: telemetry::TelemetrySettings,

    #[command(flatten)]
    pub tls: TlsSettings,

    #[command(flatten)]
    pub redis: RedisConfig,

    #[command(flatten)]
    pub cache: CacheConfig,

    #[command(flatten)]
    pub outbox: OutboxConfig,

    #[command(flatten)]
    pub broadcast: BroadcastConfig,

    #[command(flatten)]
    pub queue: QueueConfig,

    #[command(flatten)]
    pub gateway: GatewayConfig,
}

/// Laravel's names are taken too: `local` and `testing` are development; `staging` runs as
/// production does (JSON logs, secrets required, TLS verified) and says `staging` in its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppEnv {
    #[value(alias = "local", alias = "testing")]
    Development,
    Staging,
    Production,
}

impl AppEnv {
    pub fn as_str(self) -> &'static str {
        match self {
            AppEnv::Development => "development",
            AppEnv::Staging => "staging",
            AppEnv::Production => "production",
        }
    }

    /// Staging and production: everything production asks for.
    pub fn is_production(self) -> bool {
        self != AppEnv::Development
    }
}

impl PlatformConfig {
    /// Reads the secret settings (`secret::SECRETS`), which are never flags.
    pub fn read_secrets(&mut self, lookup: secret::Lookup) -> Result<()> {
        for (var, slot) in self.secrets_mut() {
            *slot = secret::read(var, lookup)?;
        }
        Ok(())
    }

    /// Where each of `secret::SECRETS` goes (a test checks the two lists agree).
    fn secrets_mut(&mut self) -> [(&'static str, &mut Option<SecretString>); 11] {
        [
            ("APP_KEY", &mut self.app_key),
            ("GATEWAY_SECRET", &mut self.gateway_secret),
            ("DATABASE_URL", &mut self.database.url),
            ("VAULT_TOKEN", &mut self.database.vault.vault_token),
            ("REDIS_URL", &mut self.redis.url),
            (
                "BROADCAST_APP_SECRET",
                &mut self.broadcast.broadcast_app_secret,
            ),
            ("KAFKA_SASL_PASSWORD", &mut self.outbox.kafka_sasl_password),
            ("LOKI_PASSWORD", &mut self.telemetry.loki_password),
            ("LOKI_BEARER_TOKEN", &mut self.telemetry.loki_bearer_token),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                &mut self.telemetry.otlp_headers,
            ),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                &mut self.telemetry.otlp_traces_headers,
            ),
        ]
    }

    pub fn log_format(&self) -> ::telemetry::LogFormat {
        self.telemetry.log_format.unwrap_or(match self.app_env {
            AppEnv::Development => ::telemetry::LogFormat::Pretty,
            AppEnv::Staging | AppEnv::Production => ::telemetry::LogFormat::Json,
        })
    }

    /// Telemetry's configuration; an error when a TLS file or a credential is wrong.
    pub fn telemetry(&self) -> Result<::telemetry::TelemetryConfig> {
        let t = &self.telemetry;
        let tls = crate::platform::tls::Tls::load(&self.tls)?;
        Ok(::telemetry::TelemetryConfig {
            service_name: self.app_name.clone(),
            service_version: env!("CARGO_PKG_VERSION").to_owned(),
            // Given at build time (`SOURCE_REVISION=$(git rev-parse HEAD) cargo build`): the
            // binary cannot know its commit otherwise, and a build script reading .git would
            // rebuild on every commit.
            service_revision: option_env!("SOURCE_REVISION")
                .unwrap_or("unknown")
                .to_owned(),
            environment: self.app_env.as_str().to_owned(),
            namespace: t.k8s_namespace.clone(),
            log_format: self.log_format(),
            log_filter: t.log_filter.clone(),
            logs_to_stderr: false,
            loki: t.loki(&tls)?,
            otlp: t.otlp(&tls)?,
            log_queue: t.log_queue_lines,
        })
    }

    /// The database engine DATABASE_URL names, under the TLS policy and APP_ENV.
    pub fn database_engine(&self) -> Result<crate::platform::tenancy::settings::Engine> {
        self.database.engine(
            self.tls.extra_ca_certs.as_deref(),
            self.app_env.is_production(),
        )
    }

    /// The CDN's base URL when it serves: in production, when configured.
    pub fn cdn(&self) -> Option<&str> {
        self.cdn_base_url
            .as_deref()
            .filter(|c| !c.is_empty() && self.app_env.is_production())
            .map(|c| c.trim_end_matches('/'))
    }

    /// The demo tenant is for a newcomer's first run: embedded defaults in development.
    pub fn wants_demo_tenant(&self) -> bool {
        self.demo_tenant
            .unwrap_or(self.database.url.is_none() && self.app_env == AppEnv::Development)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: PlatformConfig,
    }

    /// The configuration of `args`, with DATABASE_URL `database_url`.
    fn parse(database_url: &str, args: &[&str]) -> PlatformConfig {
        let mut config = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .map(|c| c.config)
            .unwrap_or_else(|e| panic!("{e}"));
        let url = database_url.to_owned();
        let lookup = move |k: &str| (k == "DATABASE_URL").then(|| url.clone());
        config.read_secrets(&lookup).expect("secrets");
        config
    }

    #[test]
    fn every_secret_has_a_place_and_no_flag() {
        let mut config = parse("mysql://db", &[]);
        let places: Vec<_> = config
            .secrets_mut()
            .map(|(var, _)| var)
            .into_iter()
            .collect();
        let listed: Vec<_> = secret::SECRETS.iter().map(|s| s.var).collect();
        assert_eq!(places, listed);
        let as_flag = Cli::try_parse_from(["x", "--database-url", "mysql://db"]);
        assert!(as_flag.is_err(), "a secret is not a flag");
    }
}
