//! Outbound HTTP calls: each one a client span under the current span, with the trace context
//! written into the request in both formats (W3C `traceparent`, B3 `X-B3-*` and `b3`). Istio's
//! sidecars forward these headers but never create them: without this, a partner call or an S3
//! request would start a trace of its own and the request's trace would end at our service.

use opentelemetry::trace::TraceContextExt;
use tracing::{Instrument, field::Empty};

use crate::propagation;

/// Sends `request` inside a client span (`http.request.method`, `server.address`,
/// `server.port`, `url.full` without its query, `http.response.status_code`). A transport error
/// or a 4xx/5xx answer marks the span as an error.
pub async fn send(
    client: &reqwest::Client,
    mut request: reqwest::Request,
) -> reqwest::Result<reqwest::Response> {
    let method = request.method().as_str().to_owned();
    let url = request.url();
    // The query may carry a signature or a token: keep it out of the span.
    let shown = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    ) + url.path();
    let span = tracing::info_span!(
        "outbound",
        otel.name = %method,
        otel.kind = "client",
        otel.status_code = Empty,
        http.request.method = %method,
        server.address = url.host_str().unwrap_or_default(),
        server.port = url.port_or_known_default().unwrap_or_default(),
        url.full = %shown,
        http.response.status_code = Empty,
    );
    let context = propagation::context_of(&span);
    if context.span().span_context().is_valid() {
        propagation::inject(&context, request.headers_mut());
    }
    let sent = client.execute(request).instrument(span.clone()).await;
    match &sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            span.record("http.response.status_code", status);
            if status >= 400 {
                span.record("otel.status_code", "ERROR");
            }
        }
        Err(_) => {
            span.record("otel.status_code", "ERROR");
        }
    }
    sent
}
