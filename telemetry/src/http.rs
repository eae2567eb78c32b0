//! The HTTP middleware: one server span per request, its context taken from W3C or B3 headers,
//! and the RED metrics.
//!
//! The span follows OpenTelemetry's HTTP semantic conventions: named `METHOD /route/{template}`,
//! with `http.request.method`, `http.route` (the template, never the raw path),
//! `http.response.status_code` and `tenant.id` (recorded by whoever resolves the tenant, through
//! `record_tenant`). Every log line inside the request carries its trace's ids (`lines.rs`
//! reads them from the trace layer). Every response carries `X-B3-TraceId`, `X-B3-SpanId` and
//! `traceparent`, so a caller can find its request's trace.

use std::{sync::Arc, time::Instant};

use crate::{
    metrics, propagation,
    routes::RouteTemplates,
    traces::{self, ids},
};
use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response,
    http::{HeaderValue, header::HeaderName},
};
use tracing::{Instrument, field::Empty};

/// Wraps an endpoint in the server span and the RED metrics.
pub struct Observe {
    routes: Arc<RouteTemplates>,
}

impl Observe {
    pub fn new(routes: RouteTemplates) -> Observe {
        metrics::describe_http();
        Observe {
            routes: Arc::new(routes),
        }
    }
}

impl<E: Endpoint> Middleware<E> for Observe {
    type Output = ObserveEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ObserveEndpoint {
            inner,
            routes: self.routes.clone(),
            // Registered once: the macro would look it up on every request.
            active: ::metrics::gauge!("http_server_active_requests"),
        }
    }
}

pub struct ObserveEndpoint<E> {
    inner: E,
    routes: Arc<RouteTemplates>,
    active: ::metrics::Gauge,
}

/// Keeps `http_server_active_requests` right even when a request is cancelled.
struct InFlight<'a>(&'a ::metrics::Gauge);

impl InFlight<'_> {
    fn enter(gauge: &::metrics::Gauge) -> InFlight<'_> {
        gauge.increment(1.0);
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

impl<E: Endpoint> Endpoint for ObserveEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let tenant = TenantSlot::default();
        req.extensions_mut().insert(tenant.clone());
        let _in_flight = InFlight::enter(&self.active);
        // Both borrowed (a method of HTTP's registry, a template of the service's): no copy
        // per request.
        let method = known_method(req.method().as_str());
        let route = self
            .routes
            .find(req.uri().path())
            .map_or("unmatched", |(t, _)| t);
        let span = tracing::info_span!(
            "request",
            otel.name = %Joined(method, route),
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = method,
            http.request.method_original = Empty,
            http.route = route,
            url.path = req.uri().path(),
            http.response.status_code = Empty,
            tenant.id = Empty,
        );
        if method == "_OTHER" {
            // The raw method stays on this one span, bounded like any attribute value.
            let original: String = req.method().as_str().chars().take(32).collect();
            span.record("http.request.method_original", original.as_str());
        }
        propagation::set_parent(&span, &propagation::extract(req.headers()));
        let ids = traces::layer::with_state(&span, |s| (s.trace_id, s.span_id, s.sampled));

        let mut resp = match self.inner.call(req).instrument(span.clone()).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let status = resp.status().as_u16();
        span.record("http.response.status_code", status);
        if status >= 500 {
            span.record("otel.status_code", "ERROR");
        }
        let mut sampled_trace = None;
        if let Some((trace_id, span_id, sampled)) = ids {
            let mut trace_hex = [0u8; 32];
            let trace = ids::hex(&trace_id.to_be_bytes(), &mut trace_hex);
            let mut span_hex = [0u8; 16];
            let span_id = ids::hex(&span_id.to_be_bytes(), &mut span_hex);
            let mut parent = [0u8; 55];
            let traceparent = traceparent(trace, span_id, sampled, &mut parent);
            let headers = resp.headers_mut();
            for (name, value) in [
                ("x-b3-traceid", trace),
                ("x-b3-spanid", span_id),
                ("traceparent", traceparent),
            ] {
                if let Ok(value) = HeaderValue::from_str(value) {
                    headers.insert(HeaderName::from_static(name), value);
                }
            }
            sampled_trace = sampled.then_some(trace_id);
        }
        let seconds = started.elapsed().as_secs_f64();
        // One line per request, inside its span: its trace_id and tenant reach the log too.
        span.in_scope(|| {
            tracing::info!(
                name: ACCESS_LINE,
                method,
                route,
                status,
                latency_ms = seconds * 1000.0,
                "request served"
            )
        });
        metrics::observe_request(method, route, status, seconds, sampled_trace);
        if let Some(tenant) = tenant.0.get() {
            metrics::tenant_request(tenant, status);
        }
        Ok(resp)
    }
}

/// The access line's event name. The trace layer leaves this event out of the span: its
/// fields are the server span's own attributes and duration, and as a span event it was a
/// fifth of a request's span bytes, encoded, sent and decoded for nothing.
pub(crate) const ACCESS_LINE: &str = "http.access_line";

/// `METHOD route`, the span's name, written where it goes without a `String` of its own.
struct Joined<'a>(&'a str, &'a str);

impl std::fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.1)
    }
}

/// A W3C `traceparent` of hex ids, written into `out`.
fn traceparent<'a>(trace: &str, span: &str, sampled: bool, out: &'a mut [u8; 55]) -> &'a str {
    out[..3].copy_from_slice(b"00-");
    out[3..35].copy_from_slice(trace.as_bytes());
    out[35] = b'-';
    out[36..52].copy_from_slice(span.as_bytes());
    out[52..].copy_from_slice(if sampled { b"-01" } else { b"-00" });
    std::str::from_utf8(out).unwrap_or_default()
}

/// The method as a label: one of HTTP's registered methods, or `_OTHER` (OpenTelemetry's HTTP
/// semantic conventions), since any token is a valid method and a client could otherwise add
/// label values at will.
pub fn known_method(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("_OTHER")
}

/// Where the request's tenant is put once resolved, for the per-tenant request counter.
#[derive(Clone, Default)]
struct TenantSlot(Arc<std::sync::OnceLock<String>>);

/// Names `req`'s tenant: on its span (`tenant.id`), for traces and log labels, and for
/// `http_server_tenant_requests_total`.
pub fn record_tenant(req: &Request, tenant: &str) {
    tracing::Span::current().record("tenant.id", tenant);
    if let Some(slot) = req.extensions().get::<TenantSlot>() {
        slot.0.set(tenant.to_owned()).ok();
    }
}
