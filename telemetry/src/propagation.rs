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
