//! Trace context in HTTP headers. Istio's sidecars do not propagate context for the app, so the
//! service reads it from incoming requests and writes it on every outbound call itself, in both
//! formats (W3C `traceparent`/`tracestate`, B3 `X-B3-*` and single-header `b3`).
//!
//! A `tracing` span's trace context lives in the trace layer (`traces::layer`); `context_of`
//! gives it as OpenTelemetry's `Context`, for the propagators or for code that uses the
//! OpenTelemetry API, and `set_parent` makes a span continue a remote trace.

use opentelemetry::{
    Context, global,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId},
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use poem::http::HeaderMap;

use crate::traces::{self, layer::SpanState};

/// The remote context of an incoming request (empty when it carries none).
pub fn extract(headers: &HeaderMap) -> Context {
    global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Writes `cx` into an outbound request's headers.
pub fn inject(cx: &Context, headers: &mut HeaderMap) {
    global::get_text_map_propagator(|p| p.inject_context(cx, &mut HeaderInjector(headers)));
}

fn span_context(state: &SpanState) -> SpanContext {
    let flags = if state.sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    SpanContext::new(
        TraceId::from_bytes(state.trace_id.to_be_bytes()),
        SpanId::from_bytes(state.span_id.to_be_bytes()),
        flags,
        false,
        state.trace_state.clone().unwrap_or_default(),
    )
}

/// `span`'s trace context; empty when no trace layer records it.
pub fn context_of(span: &tracing::Span) -> Context {
    traces::layer::with_state(span, |state| span_context(state)).map_or_else(Context::new, |cx| {
        Context::new().with_remote_span_context(cx)
    })
}

/// Makes `span` continue the trace of `parent`'s span context, when it has a valid one. Call it
/// before the span has children: they took their trace when they were made.
pub fn set_parent(span: &tracing::Span, parent: &Context) {
    let parent = parent.span();
    let remote = parent.span_context();
    if remote.is_valid() {
        traces::layer::with_state(span, |state| state.adopt(&traces::sampler(), remote));
    }
}

/// The current span's context as a W3C `traceparent`, to carry it past a queue or an outbox;
/// `None` outside a traced span.
pub fn current_traceparent() -> Option<String> {
    traces::layer::with_state(&tracing::Span::current(), |s| {
        format!(
            "00-{:032x}-{:016x}-{:02x}",
            s.trace_id,
            s.span_id,
            u8::from(s.sampled)
        )
    })
}

/// Makes `span` continue the trace of a W3C `traceparent` carried past a queue or an outbox.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    let mut headers = HeaderMap::new();
    if let Ok(value) = traceparent.parse() {
        headers.insert("traceparent", value);
        set_parent(span, &extract(&headers));
    }
}

/// The current span's context in every format the service writes (W3C and B3), as header
/// pairs: for a message broker's headers.
pub fn current_headers() -> Vec<(String, String)> {
    let mut headers = HeaderMap::new();
    inject(&context_of(&tracing::Span::current()), &mut headers);
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}
