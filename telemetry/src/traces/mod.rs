//! Traces: `tracing` spans recorded straight into OTLP protobuf by a layer of our own
//! (`layer.rs`, `otlp.rs`), queued and posted over OTLP/HTTP by a thread of its own
//! (`export.rs`); spans made through the OpenTelemetry API go the same way (`sdk.rs`). Context
//! is read from and written to W3C and B3 headers by OpenTelemetry's propagators
//! (`propagation.rs`).
//!
//! Why our own layer rather than tracing-opentelemetry and the SDK's exporter: with them a
//! span's every field was copied three times (an OpenTelemetry `KeyValue`, the SDK's
//! `SpanData`, opentelemetry-proto's structs, each key and value a `String`) before being
//! written, and telemetry cost a request ~70,000 instructions, most of them those copies and
//! their allocations. Here a field is written once, into the bytes that are sent
//! (`loadtests/instructions-telemetry.sh` measures it).
//!
//! Spans are exported from a thread of its own through a bounded queue, so an absent collector
//! costs requests nothing; a span dropped at a full queue, or in a batch the collector refuses
//! or never receives, is counted in `telemetry_dropped_total{signal="spans"}`. Sampling follows
//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (`sampler.rs`).

mod export;
pub(crate) mod ids;
pub(crate) mod layer;
mod otlp;
pub(crate) mod sampler;
mod sdk;
#[cfg(test)]
mod tests;

use std::{sync::OnceLock, time::Duration};

use opentelemetry::{KeyValue, global, propagation::TextMapCompositePropagator};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
// The zipkin crate is deprecated for its exporter (Zipkin ingests OTLP now); its B3 propagator,
// which Istio's B3 headers need, has no other maintained home.
#[allow(deprecated)]
use opentelemetry_zipkin::{B3Encoding, Propagator as B3Propagator};

use crate::{Error, TelemetryConfig};
use export::{Queue, Settings};
use layer::SpanLayer;
use sampler::Sampler;

/// The sampler spans are decided by, for code outside the layer (a remote parent adopted).
static SAMPLER: OnceLock<Sampler> = OnceLock::new();

pub(crate) fn sampler() -> Sampler {
    SAMPLER.get().copied().unwrap_or_default()
}

pub(crate) struct Traces {
    provider: SdkTracerProvider,
    queue: Option<Queue>,
    sampler: Sampler,
    /// Why the sampler is not what the variables say, for a warning once logs are on.
    pub sampler_warning: Option<String>,
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
        // The SDK's resource: what the service says, and what its detectors add
        // (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`, the SDK's own attributes).
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
        let (sampler, sampler_warning) = Sampler::from_env();
        SAMPLER.set(sampler).ok();
        let queue = match &cfg.otlp {
            Some(otlp) => Some(export::start(
                otlp,
                sdk::resource(&resource),
                Settings::from_env(),
            )?),
            None => None,
        };
        let mut builder = SdkTracerProvider::builder().with_resource(resource);
        if let Some(queue) = &queue {
            builder = builder.with_span_processor(sdk::Bridge::new(queue.clone()));
        }
        let provider = builder.build();
        global::set_tracer_provider(provider.clone());
        Ok(Traces {
            provider,
            queue,
            sampler,
            sampler_warning,
        })
    }

    pub fn layer(&self) -> SpanLayer {
        SpanLayer {
            sampler: self.sampler,
            queue: self.queue.clone(),
        }
    }

    /// Blocks while the last batch is exported, at most `within` (call it off the async
    /// threads).
    pub fn shutdown(self, within: Duration) {
        self.provider.shutdown().ok();
        if let Some(queue) = self.queue {
            queue.shutdown(within);
        }
    }
}
