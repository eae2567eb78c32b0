//! The global subscriber: a filter, stdout (JSON or pretty), the OpenTelemetry layer that turns
//! spans into trace spans, and the Loki layer when configured.

use tracing_subscriber::{
    EnvFilter, Layer, filter::LevelFilter, fmt, prelude::*, registry::Registry,
};

use crate::{Error, TelemetryConfig, loki};

/// How log lines are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log shippers; the request span's fields (trace_id,
    /// span_id, tenant.id) are on every line.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

pub(crate) fn install<O>(
    cfg: &TelemetryConfig,
    otel: O,
    loki: Option<loki::LokiLayer>,
) -> Result<(), Error>
where
    O: Layer<Registry> + Send + Sync + 'static,
{
    let filter = || EnvFilter::try_new(&cfg.log_filter).map_err(|e| Error::Filter(e.to_string()));
    let stdout = match cfg.log_format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => fmt::layer().with_target(false).boxed(),
    };
    // Each layer filters for itself: RUST_LOG quiets the logs, never the request spans (the
    // trace layer takes every span at INFO and above, whatever the log level).
    let loki = match loki {
        Some(layer) => Some(layer.with_filter(filter()?)),
        None => None,
    };
    Registry::default()
        .with(otel.with_filter(LevelFilter::INFO))
        .with(stdout.with_filter(filter()?))
        .with(loki)
        .try_init()
        .map_err(|_| Error::AlreadyInstalled)
}
