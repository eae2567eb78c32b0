//! Telemetry for a poem service: logs (stdout, and Loki when configured), traces (OTLP,
//! context read from W3C and B3 headers, spans through `tracing` or the OpenTelemetry API), and Prometheus metrics with exemplars.
//! It knows nothing of the service that uses it: a service calls `init` once with a
//! `TelemetryConfig`, wraps its endpoint in `http::Observe`, serves `metrics::Exposition`, and
//! calls `Telemetry::shutdown` on the way out. Outbound HTTP goes through `outbound::send`, which
//! carries the trace on to the next service.
//!
//! Nothing here is in a request's way: spans and log lines go into bounded queues drained by
//! background tasks; when a queue is full or a receiver is down, data is dropped and counted in
//! `telemetry_dropped_total{signal}`, never waited for.

pub mod episode;
pub mod http;
mod json;
mod lines;
mod logs;
mod loki;
pub mod metrics;
pub mod outbound;
pub mod propagation;
mod protobuf;
pub mod routes;
mod spare;
mod stdout;
pub mod throttle;
mod traces;

use std::{fmt, str::FromStr, sync::Arc, time::Duration};

pub use logs::LogFormat;
pub use metrics::{cap_tenant_labels, tenant_label};

/// Everything `init` needs; the service fills it from its own configuration.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `service.name` of traces, `app` label of logs.
    pub service_name: String,
    pub service_version: String,
    /// Source revision of the build (a commit id), `unknown` when not known: a label of
    /// `build_info`.
    pub service_revision: String,
    /// `env` label of logs (development, production, …).
    pub environment: String,
    /// Kubernetes namespace: the `namespace` label of logs.
    pub namespace: Option<String>,
    pub log_format: LogFormat,
    /// EnvFilter syntax, e.g. `info,sqlx=warn`.
    pub log_filter: String,
    /// Log lines on stderr instead of stdout: for a command whose stdout is its output (a
    /// listing a program reads), not for a service, whose stdout is its log.
    pub logs_to_stderr: bool,
    /// Loki: its base URL (`http://loki:3100`); `None` keeps logs on stdout only.
    pub loki: Option<Endpoint>,
    /// The OTLP collector (Tempo); `None` records spans (for ids in logs and headers) but
    /// exports nothing.
    pub otlp: Option<Otlp>,
    /// Log lines waiting for Loki, and for stdout, at most; beyond it they are dropped and
    /// counted.
    pub log_queue: usize,
}

/// Where a telemetry backend is and how to reach it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    /// Sent with every request: authorization, `X-Scope-OrgID`, a collector's API key. Mark
    /// secret values sensitive (`HeaderValue::set_sensitive`): `Debug` then hides them.
    pub headers: reqwest::header::HeaderMap,
    /// The TLS the client speaks for an `https://` URL (roots, a client certificate).
    pub tls: Arc<rustls::ClientConfig>,
}

/// The OTLP/HTTP (protobuf) trace export, as the OpenTelemetry specification's
/// `OTEL_EXPORTER_OTLP_*` variables describe it.
#[derive(Debug, Clone)]
pub struct Otlp {
    /// The traces URL itself (`http://tempo:4318/v1/traces`), with headers and TLS.
    pub endpoint: Endpoint,
    /// gzip the request bodies.
    pub gzip: bool,
    /// How long one export may take.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("log filter: {0}")]
    Filter(String),
    #[error("a global subscriber or recorder is already installed")]
    AlreadyInstalled,
    #[error("trace exporter: {0}")]
    Exporter(String),
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("stdout writer: {0}")]
    Stdout(String),
    #[error("loki: {0}")]
    Loki(String),
}

/// What `init` started; `shutdown` flushes it.
pub struct Telemetry {
    traces: traces::Traces,
    stdout: Option<stdout::Stdout>,
    loki: Option<loki::Shipper>,
}

/// Installs the global subscriber (stdout, Loki, OpenTelemetry), the propagators and the
/// metrics recorder. Call once per process, inside a Tokio runtime.
pub fn init(cfg: &TelemetryConfig) -> Result<Telemetry, Error> {
    metrics::install(cfg)?;
    let traces = traces::Traces::start(cfg)?;
    // Line buffers, handed back by stdout's writer and the Loki shipper (`spare.rs`): at most
    // 4,096 kept (2 MiB of 512-byte lines), more than a pace's worth at tens of thousands a second.
    let spare = Arc::new(spare::Spare::new(cfg.log_queue.min(4_096)));
    let (loki_layer, loki) = match &cfg.loki {
        Some(endpoint) => {
            let (sink, shipper) = loki::start(endpoint, cfg, spare.clone())?;
            (Some(sink), Some(shipper))
        }
        None => (None, None),
    };
    let stdout = match cfg.log_format {
        LogFormat::Json => Some(stdout::start(
            cfg.log_queue,
            cfg.logs_to_stderr,
            spare.clone(),
        )?),
        LogFormat::Pretty => None,
    };
    logs::install(cfg, traces.layer(), stdout.clone(), loki_layer, spare)?;
    if let Some(warning) = &traces.sampler_warning {
        tracing::warn!("{warning}");
    }
    Ok(Telemetry {
        traces,
        stdout,
        loki,
    })
}

impl Telemetry {
    /// Flushes queued spans and log lines, waiting at most `within`.
    pub async fn shutdown(self, within: Duration) {
        let traces = self.traces;
        let spans = tokio::task::spawn_blocking(move || traces.shutdown(within));
        if let Some(loki) = self.loki {
            loki.shutdown(within).await;
        }
        if let Some(stdout) = self.stdout {
            tokio::task::spawn_blocking(move || stdout.flush(within))
                .await
                .ok();
        }
        tokio::time::timeout(within, spans).await.ok();
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" | "text" => Ok(LogFormat::Pretty),
            other => Err(format!("unknown log format `{other}` (json or pretty)")),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Json => "json",
            LogFormat::Pretty => "pretty",
        })
    }
}
