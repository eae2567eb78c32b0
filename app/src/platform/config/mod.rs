//! The platform's configuration: one struct, read from the environment (12-factor) by clap, so every variable
//! is validated at start-up, listed by `policy-service --help`, and mirrored in `.env.example`.
//!
//! With nothing set the service runs on embedded defaults: SQLite files under `./data`, no Redis,
//! logs to stdout. Secrets are not flags: they come from the environment or a file (`secret`),
//! into `SecretString`s, whose `Debug` prints `[REDACTED]`.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

use crate::platform::error::{Error, Result};

pub mod secret;

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

    /// `development` logs pretty text, `production` JSON; it also gates the demo tenant.
    #[arg(help_heading = "Service", long, env = "APP_ENV", value_enum, default_value_t = AppEnv::Development)]
    pub app_env: AppEnv,

    /// Overrides the log format chosen by APP_ENV.
    #[arg(help_heading = "Service", long, env = "LOG_FORMAT")]
    pub log_format: Option<telemetry::LogFormat>,

    /// Log filter in `tracing` EnvFilter syntax.
    #[arg(
        help_heading = "Service",
        long,
        env = "RUST_LOG",
        default_value = "info,sqlx=warn"
    )]
    pub log_filter: String,

    /// Interface the HTTP server binds.
    #[arg(
        help_heading = "Service",
        long,
        env = "HOST",
        default_value = "0.0.0.0"
    )]
    pub host: String,

    /// Port of the HTTP API (0 picks a free one, as the tests do).
    #[arg(help_heading = "Service", long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    #[command(flatten)]
    pub database: DatabaseConfig,

    #[command(flatten)]
    pub documents: crate::platform::documents::settings::DocumentsConfig,

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

    /// Loki base URL, e.g. `http://loki:3100`. Unset: logs go to stdout only.
    #[arg(help_heading = "Telemetry", long, env = "LOKI_URL")]
    pub loki_url: Option<String>,

    /// Kubernetes namespace: the `namespace` label of shipped logs.
    #[arg(help_heading = "Telemetry", long, env = "K8S_NAMESPACE")]
    pub k8s_namespace: Option<String>,

    /// OTLP/HTTP collector (Tempo), e.g. `http://tempo:4318`. Unset: spans are not exported
    /// (trace ids still reach logs and response headers). OTEL_TRACES_SAMPLER and
    /// OTEL_TRACES_SAMPLER_ARG choose sampling (default parentbased_always_on).
    #[arg(help_heading = "Telemetry", long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Tenants with a label of their own in metrics; beyond it they fold into `other`.
    #[arg(
        help_heading = "Telemetry",
        long,
        env = "METRICS_TENANT_LABELS",
        default_value_t = 100
    )]
    pub metrics_tenant_labels: usize,

    /// How often the `policies_by_status` / `claims_by_status` gauges of tenants written to
    /// through this replica are recounted (one indexed GROUP BY each).
    #[arg(
        help_heading = "Telemetry",
        long,
        env = "METRICS_STATUS_REFRESH_MS",
        default_value_t = 5000
    )]
    pub metrics_status_refresh_ms: u64,

    /// How often every tenant's status gauges are recounted, to pick up writes made through
    /// other replicas; the first recount runs at start.
    #[arg(
        help_heading = "Telemetry",
        long,
        env = "METRICS_STATUS_RECOUNT_SECS",
        default_value_t = 60
    )]
    pub metrics_status_recount_secs: u64,

    /// Serve `/metrics` on this port instead of the API port, so it can stay off the gateway.
    /// Unset: `/metrics` is on the API port.
    #[arg(help_heading = "Telemetry", long, env = "METRICS_PORT")]
    pub metrics_port: Option<u16>,

    /// Log lines waiting for Loki at most; more are dropped and counted.
    #[arg(
        help_heading = "Telemetry",
        long,
        env = "LOG_QUEUE_LINES",
        default_value_t = 10_000
    )]
    pub log_queue_lines: usize,

    /// REDIS_URL (a secret).
    #[arg(skip)]
    pub redis_url: Option<SecretString>,

    /// `REDIS_URL` is a node of a Redis Cluster (implied by a list of nodes).
    #[arg(
        help_heading = "Redis and the cache",
        long,
        env = "REDIS_CLUSTER",
        default_value_t = false
    )]
    pub redis_cluster: bool,

    /// The most one Redis call may take (ms), and how long a write waits for the other replicas
    /// to acknowledge its invalidations; past it, the call fails (a cache read is then a miss).
    #[arg(help_heading = "Redis and the cache", long, env = "REDIS_TIMEOUT_MS", default_value_t = 250, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub redis_timeout_ms: u64,

    /// GATEWAY_SECRET (a secret).
    #[arg(skip)]
    pub gateway_secret: Option<SecretString>,

    /// Where domain events go: `kafka` (KAFKA_BROKERS), `log` (a line each) or `none` (dropped
    /// once relayed).
    #[arg(help_heading = "Events (the outbox)", long, env = "EVENT_PUBLISHER", value_enum, default_value_t = EventPublisherKind::Log)]
    pub event_publisher: EventPublisherKind,

    /// Kafka's bootstrap brokers, `host:port`, comma-separated (EVENT_PUBLISHER=kafka).
    #[arg(help_heading = "Events (the outbox)", long, env = "KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,

    /// Events go to the topic `<prefix><aggregate>`: `insurance.policy`, `.payment`, `.claim`.
    #[arg(
        help_heading = "Events (the outbox)",
        long,
        env = "KAFKA_TOPIC_PREFIX",
        default_value = "insurance."
    )]
    pub kafka_topic_prefix: String,

    /// How often (s) every tenant's outbox is relayed, measured and pruned (besides the relay
    /// right after each commit).
    #[arg(help_heading = "Events (the outbox)", long, env = "OUTBOX_SWEEP_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub outbox_sweep_secs: u64,

    #[command(flatten)]
    pub broadcast: crate::platform::broadcast::settings::BroadcastConfig,

    /// What every queue key in Redis starts with: `<prefix>{tenant}_default`, `…_high`.
    #[arg(
        help_heading = "Jobs",
        long,
        env = "QUEUE_PREFIX",
        default_value = "policy_service_queues:"
    )]
    pub queue_prefix: String,

    /// Seconds a reserved job of the `default` queue stays reserved without a lease renewal
    /// before it is handed out again (the seed's `retry_after`).
    #[arg(help_heading = "Jobs", long, env = "QUEUE_RETRY_AFTER_SECS", default_value_t = 90, value_parser = clap::value_parser!(u64).range(1..))]
    pub queue_retry_after_secs: u64,

    /// `retry_after` of the `high` queue.
    #[arg(help_heading = "Jobs", long, env = "QUEUE_HIGH_RETRY_AFTER_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub queue_high_retry_after_secs: u64,

    /// The longest a job may run; then it fails (and is retried). Must be below both
    /// `retry_after`s, or `worker` refuses to start.
    #[arg(help_heading = "Jobs", long, env = "QUEUE_JOB_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub queue_job_timeout_secs: u64,

    /// The wait (ms) before a failed job's second try; it doubles with each try (to 5 minutes at
    /// most), with jitter.
    #[arg(help_heading = "Jobs", long, env = "QUEUE_BACKOFF_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub queue_backoff_ms: u64,

    /// Jobs a `worker` runs at once.
    #[arg(help_heading = "Jobs", long, env = "WORKER_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub worker_concurrency: u64,

    /// How often (ms) a `worker` looks at every tenant's queues, besides being woken by each
    /// push: it is when delayed jobs and the jobs of dead workers are picked up.
    #[arg(help_heading = "Jobs", long, env = "WORKER_POLL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    pub worker_poll_ms: u64,

    /// How long (h) published events stay in the outbox.
    #[arg(
        help_heading = "Events (the outbox)",
        long,
        env = "OUTBOX_RETENTION_HOURS",
        default_value_t = 168
    )]
    pub outbox_retention_hours: u64,

    #[command(flatten)]
    pub http: crate::platform::server::settings::HttpConfig,

    /// What every cache key in Redis starts with, so services can share a Redis.
    #[arg(
        help_heading = "Redis and the cache",
        long,
        env = "REDIS_PREFIX",
        default_value = "policy_service_cache:"
    )]
    pub redis_prefix: String,

    /// The most the in-process cache (L1) holds, in bytes of cached records; 0: no L1 (with
    /// Redis, every read goes to L2).
    #[arg(help_heading = "Redis and the cache", long, env = "CACHE_L1_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub cache_l1_max_bytes: u64,

    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(help_heading = "Service", long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// On SIGTERM, how long readiness answers 503 (so the load balancer stops sending) while
    /// requests are still served, before the server stops accepting.
    #[arg(
        help_heading = "Service",
        long,
        env = "SHUTDOWN_DRAIN_SECS",
        default_value_t = 5
    )]
    pub shutdown_drain_secs: u64,

    /// On SIGTERM, after draining, how long in-flight requests may take before the server stops.
    #[arg(
        help_heading = "Service",
        long,
        env = "SHUTDOWN_GRACE_SECS",
        default_value_t = 25
    )]
    pub shutdown_grace_secs: u64,

    /// Create the `demo` tenant on first start. Defaults to on for SQLite in development.
    #[arg(help_heading = "Service", long, env = "DEMO_TENANT")]
    pub demo_tenant: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventPublisherKind {
    Kafka,
    Log,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppEnv {
    Development,
    Production,
}

impl AppEnv {
    pub fn as_str(self) -> &'static str {
        match self {
            AppEnv::Development => "development",
            AppEnv::Production => "production",
        }
    }
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseConfig {
    /// DATABASE_URL (a secret).
    #[arg(skip)]
    pub url: Option<SecretString>,

    /// Folder of the SQLite files: one per database, `<name>.db` (landlord and each tenant).
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Name of the landlord (tenant registry) database.
    #[arg(long, env = "LANDLORD_DATABASE", default_value = "policy_landlord")]
    pub landlord_database: String,

    /// Prefix of every tenant database name: `<prefix><slug with - as _>`.
    #[arg(long, env = "TENANT_DATABASE_PREFIX", default_value = "tenant_")]
    pub tenant_database_prefix: String,

    /// CA bundle for TLS to MariaDB (the seed's MYSQL_ATTR_SSL_CA). Set: TLS is required.
    #[arg(long, env = "MYSQL_ATTR_SSL_CA")]
    pub ssl_ca: Option<PathBuf>,

    /// Verify the server certificate and host name against MYSQL_ATTR_SSL_CA.
    #[arg(
        long,
        env = "MYSQL_ATTR_SSL_VERIFY_SERVER_CERT",
        default_value_t = false
    )]
    pub ssl_verify_server_cert: bool,

    /// Connections at most in the landlord pool.
    #[arg(long, env = "LANDLORD_MAX_CONNECTIONS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub landlord_max_connections: u32,

    /// Connections at most in each tenant's pool.
    #[arg(long, env = "TENANT_MAX_CONNECTIONS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub tenant_max_connections: u32,

    /// Tenant pools kept open at most; the least used beyond it are closed.
    #[arg(long, env = "TENANT_POOLS_MAX", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub tenant_pools_max: u64,

    /// A tenant pool unused this long is closed.
    #[arg(long, env = "TENANT_POOL_IDLE_SECS", default_value_t = 300)]
    pub tenant_pool_idle_secs: u64,

    /// How long a resolved tenant (status included) is trusted before the landlord is asked again.
    #[arg(long, env = "TENANT_CACHE_TTL_SECS", default_value_t = 5)]
    pub tenant_cache_ttl_secs: u64,

    /// How long a slug that names no tenant is remembered as such (a tenant created through
    /// another process is refused for at most this long).
    #[arg(long, env = "TENANT_NEGATIVE_CACHE_SECS", default_value_t = 2)]
    pub tenant_negative_cache_secs: u64,

    /// Tenants migrated at once by `migrate`.
    #[arg(long, env = "MIGRATE_CONCURRENCY", default_value_t = 4)]
    pub migrate_concurrency: usize,

    /// `static`: every connection as DATABASE_URL's user. `vault` (MariaDB): each tenant's
    /// requests as the user of its own Vault lease (`{VAULT_DATABASE_MOUNT}/creds/{role}`),
    /// renewed and rotated by the service.
    #[arg(long, env = "DATABASE_CREDENTIALS", value_enum, default_value_t = CredentialsSource::Static)]
    pub database_credentials: CredentialsSource,

    /// Vault's (or OpenBao's) address, for DATABASE_CREDENTIALS=vault (and the boot overlay).
    #[arg(long, env = "VAULT_ADDR")]
    pub vault_addr: Option<String>,

    /// VAULT_TOKEN (a secret).
    #[arg(skip)]
    pub vault_token: Option<SecretString>,

    /// The Vault role of a Kubernetes login (the pod's service account token).
    #[arg(long, env = "VAULT_K8S_ROLE")]
    pub vault_k8s_role: Option<String>,

    /// The service account token a Kubernetes login presents.
    #[arg(long, env = "VAULT_K8S_TOKEN_PATH")]
    pub vault_k8s_token_path: Option<String>,

    /// The mount of Vault's Kubernetes auth method.
    #[arg(long, env = "VAULT_K8S_MOUNT")]
    pub vault_k8s_mount: Option<String>,

    /// The mount of Vault's database secrets engine.
    #[arg(long, env = "VAULT_DATABASE_MOUNT", default_value = "database")]
    pub vault_database_mount: String,

    /// The database role of a tenant; `{tenant}` is its slug (the seed's `tenant-{tenant}`).
    #[arg(long, env = "VAULT_DATABASE_ROLE", default_value = "tenant-{tenant}")]
    pub vault_database_role: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CredentialsSource {
    Static,
    Vault,
}

/// Where databases live: decided once from DATABASE_URL.
#[derive(Debug, Clone)]
pub enum Engine {
    Sqlite {
        dir: PathBuf,
    },
    MySql {
        server: SecretString,
        tls_query: String,
    },
}

impl DatabaseConfig {
    pub fn engine(&self) -> Result<Engine> {
        let Some(url) = &self.url else {
            return Ok(Engine::Sqlite {
                dir: self.data_dir.clone(),
            });
        };
        let parsed = url::Url::parse(url.expose_secret())
            .map_err(|e| Error::Config(format!("DATABASE_URL is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "mysql" | "mariadb") {
            return Err(Error::Config(
                "DATABASE_URL must start with mysql://".into(),
            ));
        }
        if !matches!(parsed.path(), "" | "/") {
            return Err(Error::Config(
                "DATABASE_URL names a server, not a database: drop the path (see LANDLORD_DATABASE)"
                    .into(),
            ));
        }
        let mut server = parsed;
        server.set_scheme("mysql").ok();
        server.set_query(None);
        // The seed's charset and collation, and its TLS options (CA file, verify on/off).
        let mut tls_query = String::from("charset=utf8mb4&collation=utf8mb4_unicode_ci");
        match (&self.ssl_ca, self.ssl_verify_server_cert) {
            (Some(ca), verify) => {
                let mode = if verify {
                    "VERIFY_IDENTITY"
                } else {
                    "REQUIRED"
                };
                tls_query.push_str(&format!("&ssl-mode={mode}&ssl-ca={}", ca.display()));
            }
            (None, true) => tls_query.push_str("&ssl-mode=VERIFY_IDENTITY"),
            (None, false) => tls_query.push_str("&ssl-mode=PREFERRED"),
        }
        let server = server.as_str().trim_end_matches('/').to_owned();
        Ok(Engine::MySql {
            server: server.into(),
            tls_query,
        })
    }

    pub fn tenant_pool_idle(&self) -> Duration {
        Duration::from_secs(self.tenant_pool_idle_secs)
    }

    pub fn tenant_cache_ttl(&self) -> Duration {
        Duration::from_secs(self.tenant_cache_ttl_secs)
    }

    pub fn tenant_negative_cache(&self) -> Duration {
        Duration::from_secs(self.tenant_negative_cache_secs)
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
    fn secrets_mut(&mut self) -> [(&'static str, &mut Option<SecretString>); 6] {
        [
            ("APP_KEY", &mut self.app_key),
            ("GATEWAY_SECRET", &mut self.gateway_secret),
            ("DATABASE_URL", &mut self.database.url),
            ("VAULT_TOKEN", &mut self.database.vault_token),
            ("REDIS_URL", &mut self.redis_url),
            (
                "BROADCAST_APP_SECRET",
                &mut self.broadcast.broadcast_app_secret,
            ),
        ]
    }

    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }

    pub fn outbox_sweep(&self) -> Duration {
        Duration::from_secs(self.outbox_sweep_secs)
    }

    pub fn outbox_retention(&self) -> Duration {
        Duration::from_secs(self.outbox_retention_hours.saturating_mul(3600))
    }

    pub fn queue_retry_after(&self) -> [Duration; 2] {
        [
            Duration::from_secs(self.queue_high_retry_after_secs),
            Duration::from_secs(self.queue_retry_after_secs),
        ]
    }

    pub fn queue_backoff(&self) -> Duration {
        Duration::from_millis(self.queue_backoff_ms)
    }

    pub fn queue_job_timeout(&self) -> Duration {
        Duration::from_secs(self.queue_job_timeout_secs)
    }

    pub fn log_format(&self) -> telemetry::LogFormat {
        self.log_format.unwrap_or(match self.app_env {
            AppEnv::Development => telemetry::LogFormat::Pretty,
            AppEnv::Production => telemetry::LogFormat::Json,
        })
    }

    pub fn telemetry(&self) -> telemetry::TelemetryConfig {
        telemetry::TelemetryConfig {
            service_name: self.app_name.clone(),
            service_version: env!("CARGO_PKG_VERSION").to_owned(),
            // Given at build time (`SOURCE_REVISION=$(git rev-parse HEAD) cargo build`): the
            // binary cannot know its commit otherwise, and a build script reading .git would
            // rebuild on every commit.
            service_revision: option_env!("SOURCE_REVISION")
                .unwrap_or("unknown")
                .to_owned(),
            environment: self.app_env.as_str().to_owned(),
            namespace: self.k8s_namespace.clone(),
            log_format: self.log_format(),
            log_filter: self.log_filter.clone(),
            logs_to_stderr: false,
            loki_url: self.loki_url.clone(),
            otlp_endpoint: self.otlp_endpoint.clone(),
            log_queue: self.log_queue_lines,
        }
    }

    /// The CDN's base URL when it serves: in production, when configured.
    pub fn cdn(&self) -> Option<&str> {
        self.cdn_base_url
            .as_deref()
            .filter(|c| !c.is_empty() && self.app_env == AppEnv::Production)
            .map(|c| c.trim_end_matches('/'))
    }

    /// The demo tenant is for a newcomer's first run: embedded defaults in development.
    pub fn wants_demo_tenant(&self) -> bool {
        self.demo_tenant
            .unwrap_or(self.database.url.is_none() && self.app_env == AppEnv::Development)
    }

    pub fn metrics_status_refresh(&self) -> Duration {
        Duration::from_millis(self.metrics_status_refresh_ms.max(1))
    }

    pub fn metrics_status_recount(&self) -> Duration {
        Duration::from_secs(self.metrics_status_recount_secs.max(1))
    }

    pub fn shutdown_drain(&self) -> Duration {
        Duration::from_secs(self.shutdown_drain_secs)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
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

    #[test]
    fn debug_never_prints_the_database_password() {
        let c = parse("mysql://root:hunter2@db:3306", &[]);
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn tls_options_pass_through() {
        let c = parse("mysql://root@db:3306", &["--ssl-ca", "/ca.pem"]);
        let Ok(Engine::MySql { tls_query, .. }) = c.database.engine() else {
            panic!()
        };
        assert!(
            tls_query.contains("ssl-mode=REQUIRED&ssl-ca=/ca.pem"),
            "{tls_query}"
        );
        let c = parse(
            "mysql://root@db:3306",
            &["--ssl-ca", "/ca.pem", "--ssl-verify-server-cert"],
        );
        let Ok(Engine::MySql { tls_query, .. }) = c.database.engine() else {
            panic!()
        };
        assert!(
            tls_query.contains("ssl-mode=VERIFY_IDENTITY"),
            "{tls_query}"
        );
    }

    #[test]
    fn a_database_in_the_url_is_refused() {
        let c = parse("mysql://root@db:3306/app", &[]);
        assert!(c.database.engine().is_err());
    }
}
