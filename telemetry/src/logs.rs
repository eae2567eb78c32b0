//! The global subscriber: the OpenTelemetry layer that turns spans into trace spans, and the
//! log lines: pretty on stdout (tracing-subscriber's formatter), or JSON (`lines.rs`) on stdout
//! and to Loki when configured.

use tracing_subscriber::{
    EnvFilter, Layer, filter::LevelFilter, fmt, prelude::*, registry::Registry,
};

use std::sync::Arc;

use crate::{Error, TelemetryConfig, lines::JsonLines, loki, spare::Spare, stdout::Stdout};

/// How log lines are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log shippers; a line inside a request carries its
    /// `trace_id`, `span_id` and `tenant`.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// `stdout` is the JSON lines' writer, `None` for the pretty format.
pub(crate) fn install<O>(
    cfg: &TelemetryConfig,
    otel: O,
    stdout: Option<Stdout>,
    loki: Option<loki::Sink>,
    spare: Arc<Spare<String>>,
) -> Result<(), Error>
where
    O: Layer<Registry> + Send + Sync + 'static,
{
    let filter = || EnvFilter::try_new(&cfg.log_filter).map_err(|e| Error::Filter(e.to_string()));
    let json = stdout.is_some();
    let pretty = if json {
        None
    } else {
        let writer = if cfg.logs_to_stderr {
            fmt::writer::BoxMakeWriter::new(std::io::stderr)
        } else {
            fmt::writer::BoxMakeWriter::new(std::io::stdout)
        };
        Some(
            fmt::layer()
                .with_target(false)
                .with_writer(writer)
                .with_filter(filter()?),
        )
    };
    // Each layer filters for itself: RUST_LOG quiets the logs, never the request spans (the
    // trace layer takes every span at INFO and above, whatever the log level).
    let lines = if json || loki.is_some() {
        Some(
            JsonLines {
                stdout,
                loki,
                spare,
            }
            .with_filter(filter()?),
        )
    } else {
        None
    };
    Registry::default()
        .with(otel.with_filter(LevelFilter::INFO))
        .with(pretty)
        .with(lines)
        .try_init()
        .map_err(|_| Error::AlreadyInstalled)
}
