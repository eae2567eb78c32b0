//! The hand-written OTLP read back with opentelemetry-proto (prost), the collector's own types.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, any_value},
    trace::v1::Span,
};
use prost::Message;
use tracing::field::Empty;
use tracing_subscriber::{Registry, layer::SubscriberExt};

use super::{export::Queue, layer::SpanLayer, otlp, sampler::Sampler};

fn value(v: &Option<AnyValue>) -> Option<any_value::Value> {
    v.as_ref().and_then(|v| v.value.clone())
}

fn attribute(
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<any_value::Value> {
    attributes
        .iter()
        .rev()
        .find(|kv| kv.key == key)
        .and_then(|kv| value(&kv.value))
}

fn text(s: &str) -> Option<any_value::Value> {
    Some(any_value::Value::StringValue(s.to_owned()))
}

/// Runs `f` under a subscriber with only the trace layer, and returns the spans it exported,
/// decoded from one request.
fn recorded(sampler: Sampler, f: impl FnOnce()) -> Vec<Span> {
    let (queue, take) = Queue::collecting(100);
    let layer = SpanLayer {
        sampler,
        queue: Some(queue),
    };
    tracing::subscriber::with_default(Registry::default().with(layer), f);
    let encoded = take();
    let spans: Vec<&[u8]> = encoded.iter().map(|e| e.span.as_slice()).collect();
    let mut resource = Vec::new();
    otlp::attribute(&mut resource, 1, "service.name", otlp::Value::Str("test"));
    let mut scope = Vec::new();
    otlp::bytes(&mut scope, 1, b"telemetry");
    let mut body = Vec::new();
    otlp::request(
        &mut body,
        &resource,
        [(scope.as_slice(), spans.as_slice())].into_iter(),
    );
    let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("valid OTLP");
    let resource_spans = &request.resource_spans[0];
    let resource = resource_spans.resource.as_ref().expect("resource");
    assert_eq!(
        attribute(&resource.attributes, "service.name"),
        text("test")
    );
    let scope_spans = &resource_spans.scope_spans[0];
    assert_eq!(
        scope_spans.scope.as_ref().map(|s| s.name.as_str()),
        Some("telemetry")
    );
    scope_spans.spans.clone()
}

#[test]
fn spans_fields_and_events_read_back_as_written() {
    let long = "x".repeat(20_000);
    let spans = recorded(Sampler::default(), || {
        let route = "/v1/things/{id}";
        let server = tracing::info_span!(
            "request",
            otel.name = %format_args!("GET {route}"),
            otel.kind = "server",
            otel.status_code = Empty,
            http.route = route,
            count = 3u64,
            big = u64::MAX,
            negative = -5i64,
            ratio = 0.25,
            ok = true,
            long = long.as_str(),
            later = Empty,
        );
        server.in_scope(|| {
            tracing::info_span!("SELECT", otel.kind = "client").in_scope(|| {
                tracing::info!(rows = 2, "query \"done\"");
            });
            tracing::error!("it failed");
        });
        server.record("later", "recorded late");
        server.record("otel.status_code", "ERROR");
    });
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let (child, server) = (&spans[0], &spans[1]);
    assert_eq!(server.name, "GET /v1/things/{id}");
    assert_eq!(server.kind, 2);
    assert_eq!(child.name, "SELECT");
    assert_eq!(child.kind, 3);
    assert_eq!(child.trace_id, server.trace_id);
    assert_eq!(child.parent_span_id, server.span_id);
    assert!(server.parent_span_id.is_empty());
    assert_eq!((server.trace_id.len(), server.span_id.len()), (16, 8));
    assert!(server.start_time_unix_nano <= child.start_time_unix_nano);
    assert!(child.end_time_unix_nano <= server.end_time_unix_nano);
    assert_eq!(server.flags, 0x101);
    let a = |key| attribute(&server.attributes, key);
    assert_eq!(a("http.route"), text("/v1/things/{id}"));
    assert_eq!(a("count"), Some(any_value::Value::IntValue(3)));
    assert_eq!(a("big"), text(&u64::MAX.to_string()));
    assert_eq!(a("negative"), Some(any_value::Value::IntValue(-5)));
    assert_eq!(a("ratio"), Some(any_value::Value::DoubleValue(0.25)));
    assert_eq!(a("ok"), Some(any_value::Value::BoolValue(true)));
    assert_eq!(a("long"), text(&long));
    assert_eq!(a("later"), text("recorded late"));
    assert!(a("otel.name").is_none() && a("otel.kind").is_none());
    assert_eq!(server.status.as_ref().map(|s| s.code), Some(2));
    let event = &child.events[0];
    assert_eq!(event.name, "query \"done\"");
    assert_eq!(
        attribute(&event.attributes, "rows"),
        Some(any_value::Value::IntValue(2))
    );
    assert_eq!(attribute(&event.attributes, "level"), text("INFO"));
    assert_eq!(server.events[0].name, "it failed");
    assert_eq!(child.status, None, "an INFO event leaves the status alone");
}

#[test]
fn a_remote_parent_is_continued_and_unsampled_spans_are_not_sent() {
    let remote = SpanContext::new(
        TraceId::from_bytes([7; 16]),
        SpanId::from_bytes([9; 8]),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("vendor", "v1")]).expect("valid"),
    );
    let (off, _) = Sampler::parse(Some("parentbased_always_off"), None);
    let spans = recorded(off, || {
        let adopted = tracing::info_span!("request", field = "kept");
        crate::propagation::set_parent(
            &adopted,
            &opentelemetry::Context::new().with_remote_span_context(remote.clone()),
        );
        adopted.in_scope(|| tracing::info_span!("child").in_scope(|| {}));
        // A root of its own under parentbased_always_off: ids, and nothing sent.
        let alone = tracing::info_span!("alone");
        let ids = super::layer::with_state(&alone, |s| (s.trace_id, s.sampled));
        assert!(ids.is_some_and(|(trace, sampled)| trace != 0 && !sampled));
    });
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let (child, adopted) = (&spans[0], &spans[1]);
    assert_eq!(adopted.trace_id, vec![7; 16]);
    assert_eq!(adopted.parent_span_id, vec![9; 8]);
    assert_eq!(adopted.trace_state, "vendor=v1");
    assert_eq!(adopted.flags, 0x301, "sampled, remote parent");
    assert_eq!(attribute(&adopted.attributes, "field"), text("kept"));
    assert_eq!(child.trace_id, vec![7; 16]);
    assert_eq!(child.parent_span_id, adopted.span_id);
    assert_eq!(child.trace_state, "vendor=v1");
}

/// The access line is a log line, not a span event: its span already holds what it says.
#[test]
fn the_access_line_is_no_span_event() {
    let spans = recorded(Sampler::default(), || {
        tracing::info_span!("request").in_scope(|| {
            tracing::info!(name: crate::http::ACCESS_LINE, status = 200, "request served");
            tracing::info!("cache refreshed");
        });
    });
    let names: Vec<&str> = spans[0].events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["cache refreshed"]);
}

#[test]
fn a_full_queue_drops_spans_and_never_waits() {
    let (queue, take) = Queue::collecting(1);
    let layer = SpanLayer {
        sampler: Sampler::default(),
        queue: Some(queue),
    };
    tracing::subscriber::with_default(Registry::default().with(layer), || {
        for _ in 0..3 {
            tracing::info_span!("one").in_scope(|| {});
        }
    });
    assert_eq!(take().len(), 1);
}

/// A span made through the OpenTelemetry API reaches the same queue, under its tracer's scope.
#[test]
fn opentelemetry_api_spans_are_encoded_too() {
    use opentelemetry::{
        KeyValue,
        trace::{Span as _, Tracer, TracerProvider as _},
    };
    let (queue, take) = Queue::collecting(10);
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(super::sdk::Bridge::new(queue))
        .build();
    let tracer = provider.tracer("my-library");
    let mut span = tracer.start("compute");
    span.set_attribute(KeyValue::new("items", 3));
    span.set_attribute(KeyValue::new(
        "tags",
        opentelemetry::Value::Array(opentelemetry::Array::String(vec!["a".into(), "b".into()])),
    ));
    span.add_event("halfway", vec![KeyValue::new("at", 0.5)]);
    span.set_status(opentelemetry::trace::Status::error("overflow"));
    span.end();
    let encoded = take();
    assert_eq!(encoded.len(), 1);
    let scope = encoded[0].scope.as_deref().expect("its own scope");
    let scope = opentelemetry_proto::tonic::common::v1::InstrumentationScope::decode(scope)
        .expect("valid scope");
    assert_eq!(scope.name, "my-library");
    let span = Span::decode(encoded[0].span.as_slice()).expect("valid span");
    assert_eq!(span.name, "compute");
    assert_eq!(span.kind, 1);
    assert_eq!(
        attribute(&span.attributes, "items"),
        Some(any_value::Value::IntValue(3))
    );
    let tags = match attribute(&span.attributes, "tags") {
        Some(any_value::Value::ArrayValue(a)) => {
            a.values.iter().map(|v| value(&Some(v.clone()))).collect()
        }
        other => vec![other],
    };
    assert_eq!(tags, [text("a"), text("b")]);
    assert_eq!(span.events[0].name, "halfway");
    let status = span.status.expect("status");
    assert_eq!((status.code, status.message.as_str()), (2, "overflow"));
}
