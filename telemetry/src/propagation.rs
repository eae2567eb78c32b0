//! Trace context in HTTP headers. Istio's sidecars do not propagate context for the app, so the
//! service reads it from incoming requests and writes it on every outbound call itself, in both
//! formats (W3C `traceparent`/`tracestate`, B3 `X-B3-*` and single-header `b3`).

use opentelemetry::{Context, global};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use poem::http::HeaderMap;

/// The remote context of an incoming request (empty when it carries none).
pub fn extract(headers: &HeaderMap) -> Context {
    global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Writes `cx` into an outbound request's headers.
pub fn inject(cx: &Context, headers: &mut HeaderMap) {
    global::get_text_map_propagator(|p| p.inject_context(cx, &mut HeaderInjector(headers)));
}

/// The current span's context as a W3C `traceparent`, to carry it past a queue or an outbox;
/// `None` outside a traced span.
pub fn current_traceparent() -> Option<String> {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let mut headers = HeaderMap::new();
    let cx = tracing::Span::current().context();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut HeaderInjector(&mut headers)));
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Makes `span` continue the trace of a W3C `traceparent` carried past a queue or an outbox.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let mut headers = HeaderMap::new();
    if let Ok(value) = traceparent.parse() {
        headers.insert("traceparent", value);
        span.set_parent(extract(&headers)).ok();
    }
}

/// The current span's context in every format the service writes (W3C and B3), as header
/// pairs: for a message broker's headers.
pub fn current_headers() -> Vec<(String, String)> {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let mut headers = HeaderMap::new();
    inject(&tracing::Span::current().context(), &mut headers);
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}
