//! The telemetry variables: where logs and spans go, and what labels cost.

use clap::Args;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Telemetry")]
pub struct TelemetrySettings {
    /// Overrides the log format chosen by APP_ENV.
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<telemetry::LogFormat>,

    /// Log filter in `tracing` EnvFilter syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info,sqlx=warn")]
    pub log_filter: String,

    /// Loki base URL, e.g. `http://loki:3100`. Unset: logs go to stdout only.
    #[arg(long, env = "LOKI_URL")]
    pub loki_url: Option<String>,

    /// Kubernetes namespace: the `namespace` label of shipped logs.
    #[arg(long, env = "K8S_NAMESPACE")]
    pub k8s_namespace: Option<String>,

    /// OTLP/HTTP collector (Tempo), e.g. `http://tempo:4318`. Unset: spans are not exported
    /// (trace ids still reach logs and response headers). OTEL_TRACES_SAMPLER and
    /// OTEL_TRACES_SAMPLER_ARG choose sampling (default parentbased_always_on).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Tenants with a label of their own in metrics; beyond it they fold into `other`.
    #[arg(long, env = "METRICS_TENANT_LABELS", default_value_t = 100)]
    pub metrics_tenant_labels: usize,

    /// Log lines waiting for Loki at most; more are dropped and counted.
    #[arg(long, env = "LOG_QUEUE_LINES", default_value_t = 10_000)]
    pub log_queue_lines: usize,
}
