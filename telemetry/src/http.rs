//! The HTTP middleware: one server span per request, its context taken from W3C or B3 headers,
//! and the RED metrics.
//!
//! The span follows OpenTelemetry's HTTP semantic conventions: named `METHOD /route/{template}`,
//! with `http.request.method`, `http.route` (the template, never the raw path),
//! `http.response.status_code` and `tenant.id` (recorded by whoever resolves the tenant, through
//! `record_tenant`). Its `trace_id` and `span_id` are span fields too, so every log line inside
//! the request carries them. Every response carries `X-B3-TraceId`, `X-B3-SpanId` and
//! `traceparent`, so a caller can find its request's trace.

use std::{sync::Arc, time::Instant};

use opentelemetry::trace::TraceContextExt;
use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response,
    http::{HeaderValue, header::HeaderName},
};
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{metrics, propagation, routes::RouteTemplates};

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
        }
    }
}

pub struct ObserveEndpoint<E> {
    inner: E,
    routes: Arc<RouteTemplates>,
}

/// Keeps `http_server_active_requests` right even when a request is cancelled.
struct InFlight;

impl InFlight {
    fn enter() -> InFlight {
        ::metrics::gauge!("http_server_active_requests").increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        ::metrics::gauge!("http_server_active_requests").decrement(1.0);
    }
}

impl<E: Endpoint> Endpoint for ObserveEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let tenant = TenantSlot::default();
        req.extensions_mut().insert(tenant.clone());
        let _in_flight = InFlight::enter();
        // Both borrowed (a method of HTTP's registry, a template of the service's): no copy
        // per request.
        let method = known_method(req.method().as_str());
        let route = self
            .routes
            .find(req.uri().path())
            .map_or("unmatched", |(t, _)| t);
        let span = tracing::info_span!(
            "request",
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = %method,
            http.request.method_original = Empty,
            http.route = %route,
            url.path = %req.uri().path(),
            http.response.status_code = Empty,
            tenant.id = Empty,
            trace_id = Empty,
            span_id = Empty,
        );
        if method == "_OTHER" {
            // The raw method stays on this one span, bounded like any attribute value.
            let original: String = req.method().as_str().chars().take(32).collect();
            span.record("http.request.method_original", original.as_str());
        }
        span.set_parent(propagation::extract(req.headers())).ok();
        let context = span.context();
        let span_context = context.span().span_context().clone();
        let trace_id = span_context.trace_id().to_string();
        let span_id = span_context.span_id().to_string();
        span.record("trace_id", trace_id.as_str());
        span.record("span_id", span_id.as_str());

        let mut resp = match self.inner.call(req).instrument(span.clone()).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let status = resp.status().as_u16();
        span.record("http.response.status_code", status);
        if status >= 500 {
            span.record("otel.status_code", "ERROR");
        }
        let flags = if span_context.is_sampled() {
            "01"
        } else {
            "00"
        };
        let headers = resp.headers_mut();
        for (name, value) in [
            ("x-b3-traceid", trace_id.clone()),
            ("x-b3-spanid", span_id),
            (
                "traceparent",
                format!("00-{trace_id}-{}-{flags}", span_context.span_id()),
            ),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        // One line per request, inside its span: its trace_id and tenant reach the log too.
        span.in_scope(|| {
            tracing::info!(
                method = %method,
                route = %route,
                status,
                latency_ms = seconds * 1000.0,
                "request served"
            )
        });
        let exemplar = span_context.is_sampled().then_some(trace_id);
        metrics::observe_request(method, route, status, seconds, exemplar);
        if let Some(tenant) = tenant.0.get() {
            metrics::tenant_request(tenant, status);
        }
        Ok(resp)
    }
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
