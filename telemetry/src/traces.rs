//! Traces: an OpenTelemetry tracer provider exporting over OTLP/HTTP, the W3C and B3
//! propagators, and the layer that makes `tracing` spans into trace spans.
//!
//! The batch processor exports from a thread of its own through a bounded queue (2,048 spans
//! by default, `OTEL_BSP_MAX_QUEUE_SIZE`), so an absent collector costs requests nothing. A batch
//! the collector refuses or never receives is counted in `telemetry_dropped_total{signal="spans"}`.
//! Sampling follows `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default
//! `parentbased_always_on`): a sampled upstream decision (Istio, Kong) is kept.

use opentelemetry::{
    KeyValue, global, propagation::TextMapCompositePropagator, trace::TracerProvider,
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    propagation::TraceContextPropagator,
    trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter},
};
// The zipkin crate is deprecated for its exporter (Zipkin ingests OTLP now); its B3 propagator,
// which Istio's B3 headers need, has no other maintained home.
#[allow(deprecated)]
use opentelemetry_zipkin::{B3Encoding, Propagator as B3Propagator};
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::Registry;

use crate::{Error, TelemetryConfig};

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
        if let Some(endpoint) = &cfg.otlp_endpoint {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
                .build()
                .map_err(|e| Error::Exporter(e.to_string()))?;
            builder = builder.with_batch_exporter(Counted(exporter));
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

/// An exporter that counts the spans of every batch it failed to deliver.
#[derive(Debug)]
struct Counted<E>(E);

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let result = self.0.export(batch).await;
        if result.is_err() {
            crate::metrics::dropped("spans", spans);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}
