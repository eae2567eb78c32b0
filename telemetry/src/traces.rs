//! Traces: an OpenTelemetry tracer provider exporting over OTLP/HTTP, the W3C and B3
//! propagators, and the layer that makes `tracing` spans into trace spans.
//!
//! Spans are exported from a thread of its own through a bounded queue (`export.rs`), so an
//! absent collector costs requests nothing; a span dropped at a full queue, or in a batch the
//! collector refuses or never receives, is counted in `telemetry_dropped_total{signal="spans"}`.
//! Sampling follows `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default
//! `parentbased_always_on`): a sampled upstream decision (Istio, Kong) is kept.

use opentelemetry::{
    KeyValue, global, propagation::TextMapCompositePropagator, trace::TracerProvider,
};
use opentelemetry_otlp::{Compression, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{SdkTracer, SdkTracerProvider},
};
// The zipkin crate is deprecated for its exporter (Zipkin ingests OTLP now); its B3 propagator,
// which Istio's B3 headers need, has no other maintained home.
#[allow(deprecated)]
use opentelemetry_zipkin::{B3Encoding, Propagator as B3Propagator};
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::Registry;

use crate::{
    Error, Otlp, TelemetryConfig,
    export::{Batching, Settings},
};

pub(crate) struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    #[allow(deprecated)]
    pub fn start(cfg: &TelemetryConfig) -> Result<Traces, Error> {
        // B3 first, W3C last: when a request carries both, the W3C context wins.
        global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
            Box::new(B3Propagator::with_encoding(
                B3Encoding::SingleAndMultiHeader,
            )),
            Box::new(TraceContextPropagator::new()),
        ]));
        let resource = Resource::builder()
            .with_service_name(cfg.service_name.clone())
            .with_attribute(KeyValue::new(
                "service.version",
                cfg.service_version.clone(),
            ))
            .with_attribute(KeyValue::new(
                "deployment.environment.name",
                cfg.environment.clone(),
            ))
            .build();
        let mut builder = SdkTracerProvider::builder().with_resource(resource);
        if let Some(otlp) = &cfg.otlp {
            builder = builder
                .with_span_processor(Batching::start(exporter(otlp)?, Settings::from_env())?);
        }
        let provider = builder.build();
        global::set_tracer_provider(provider.clone());
        Ok(Traces { provider })
    }

    /// The layer without its per-span extras: code location and thread attributes, and the
    /// busy/idle timing taken on every poll of an instrumented future. They cost a clock read or
    /// three attributes per span and say nothing a trace viewer does not already show; without
    /// them the request rate with full sampling rose measurably in `bench-telemetry.sh`.
    pub fn layer(&self) -> OpenTelemetryLayer<Registry, SdkTracer> {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("telemetry"))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
    }

    /// Blocks while the last batch is exported (call it off the async threads).
    pub fn shutdown(self) {
        self.provider.shutdown().ok();
    }
}

/// The OTLP/HTTP exporter for `otlp`: its URL, headers, compression and timeout given here
/// (the service has read the `OTEL_EXPORTER_OTLP_*` variables), over a client with the
/// service's TLS.
fn exporter(otlp: &Otlp) -> Result<SpanExporter, Error> {
    let (tls, headers, timeout) = (
        (*otlp.endpoint.tls).clone(),
        otlp.endpoint.headers.clone(),
        otlp.timeout,
    );
    // reqwest's blocking client runs a runtime of its own, which must not be built on one of
    // the service's runtime threads.
    let client = std::thread::spawn(move || {
        reqwest_otlp::blocking::Client::builder()
            .timeout(timeout)
            .default_headers(headers)
            .tls_backend_preconfigured(tls)
            .build()
    })
    .join()
    .map_err(|_| Error::Exporter("the HTTP client's thread failed".into()))?
    .map_err(|e| Error::Exporter(e.to_string()))?;
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(&otlp.endpoint.url)
        .with_timeout(timeout);
    if otlp.gzip {
        builder = builder.with_compression(Compression::Gzip);
    }
    builder.build().map_err(|e| Error::Exporter(e.to_string()))
}
