//! Prometheus metrics: the `metrics` crate's recorder for everything, plus one histogram kept
//! apart because it carries exemplars.
//!
//! Why two libraries: `metrics-exporter-prometheus` has no exemplars (metrics-rs/metrics#175).
//! The request-latency histogram `http_server_request_duration_seconds` is the one a Grafana
//! panel jumps from to a trace, so it lives in a `prometheus-client` registry, whose
//! `HistogramWithExemplars` keeps the trace id of the latest sampled request per bucket. The
//! exposition joins both:
//! - `text/plain; version=0.0.4` (the default): the recorder's text, then the histogram with its
//!   exemplars removed (that format has none);
//! - `application/openmetrics-text` (asked for by Prometheus when it stores exemplars): the
//!   recorder's text with counter families named without `_total` as OpenMetrics requires,
//!   then the histogram with exemplars, then `# EOF`.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, OnceLock},
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::{Endpoint, Request, Response};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{exemplar::HistogramWithExemplars, family::Family},
    registry::Registry,
};

use crate::Error;

const LATENCY_BUCKETS: [f64; 12] = [
    0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of every other `*_seconds` histogram (recorded through the `metrics` crate, which
/// would otherwise render a summary): finer at the bottom, where a pool's wait usually is.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status_class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TraceExemplar {
    trace_id: TraceHex,
}

/// A trace id, written as hex only when the exposition is: an exemplar per request costs no
/// `String`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct TraceHex(u128);

impl prometheus_client::encoding::EncodeLabelValue for TraceHex {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        use std::fmt::Write as _;
        write!(encoder, "{:032x}", self.0)
    }
}

type Latency = Family<RequestLabels, HistogramWithExemplars<TraceExemplar>>;

struct Exemplary {
    registry: Registry,
    latency: Latency,
}

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();
static EXEMPLARY: OnceLock<Exemplary> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

pub(crate) fn install(cfg: &crate::TelemetryConfig) -> Result<(), Error> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .map_err(|e| Error::Metrics(e.to_string()))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| Error::AlreadyInstalled)?;
    RECORDER.set(handle).ok();
    let latency =
        Latency::new_with_constructor(|| HistogramWithExemplars::new(LATENCY_BUCKETS.into_iter()));
    let mut registry = Registry::default();
    registry.register(
        "http_server_request_duration_seconds",
        "Duration of HTTP server requests, by method, route template and status class",
        latency.clone(),
    );
    EXEMPLARY.set(Exemplary { registry, latency }).ok();
    let process = metrics_process::Collector::default();
    process.describe();
    PROCESS.set(process).ok();
    metrics::describe_counter!(
        "telemetry_dropped_total",
        "Telemetry dropped instead of delaying requests: spans (export failed), logs (Loki queue full or push failed), stdout (stdout queue full)"
    );
    metrics::describe_gauge!(
        "build_info",
        "Always 1; its labels say which build is running"
    );
    metrics::gauge!(
        "build_info",
        "service" => cfg.service_name.clone(),
        "version" => cfg.service_version.clone(),
        "revision" => cfg.service_revision.clone(),
    )
    .set(1.0);
    // Present from the start, so a rate() over it is defined before the first drop.
    for signal in ["spans", "logs", "stdout"] {
        metrics::counter!("telemetry_dropped_total", "signal" => signal).absolute(0);
    }
    Ok(())
}

/// Whether `init` installed the recorder: without it, metrics go nowhere and a service can
/// skip the work of keeping them.
pub fn installed() -> bool {
    RECORDER.get().is_some()
}

pub(crate) fn describe_http() {
    metrics::describe_gauge!("http_server_active_requests", "HTTP requests being served");
    metrics::describe_counter!(
        "http_server_tenant_requests_total",
        "Requests by tenant (capped) and status class, for the tenants dashboard"
    );
}

/// The status class label of `status`: `1xx` to `5xx` (anything else is `5xx`'s neighbour
/// `other`, which a server never sends).
fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        5 => "5xx",
        _ => "other",
    }
}

/// Handles already registered, by the label values that are not `'static`, so a request looks
/// its series up by reference (no label strings built, no recorder lookup) once it has been
/// seen; only a first request of a route or a tenant registers, under the write lock.
struct Handles<H> {
    by: std::sync::RwLock<std::collections::HashMap<String, Vec<Labelled<H>>>>,
}

/// A handle with the two `'static` label values it was registered under.
type Labelled<H> = (&'static str, &'static str, H);

impl<H: Clone> Handles<H> {
    fn new() -> Handles<H> {
        Handles {
            by: std::sync::RwLock::new(std::collections::HashMap::new()),
        }
    }

    fn get(&self, key: &str, a: &'static str, b: &'static str, make: impl FnOnce() -> H) -> H {
        let found = self.by.read().ok().and_then(|by| {
            by.get(key)
                .and_then(|v| v.iter().find(|(x, y, _)| *x == a && *y == b))
                .map(|(_, _, h)| h.clone())
        });
        if let Some(h) = found {
            return h;
        }
        let h = make();
        if let Ok(mut by) = self.by.write() {
            by.entry(key.to_owned())
                .or_default()
                .push((a, b, h.clone()));
        }
        h
    }
}

static TENANT_REQUESTS: OnceLock<Handles<metrics::Counter>> = OnceLock::new();
static LATENCIES: OnceLock<Handles<HistogramWithExemplars<TraceExemplar>>> = OnceLock::new();

/// Counts one request of `tenant` (capped, as every tenant label) by its status class.
pub(crate) fn tenant_request(tenant: &str, status: u16) {
    let class = status_class(status);
    TENANT_REQUESTS
        .get_or_init(Handles::new)
        .get(tenant, class, "", || {
            metrics::counter!(
                "http_server_tenant_requests_total",
                "tenant" => tenant_label(tenant),
                "status_class" => class
            )
        })
        .increment(1);
}

/// Counts telemetry that was given up.
pub(crate) fn dropped(signal: &'static str, n: u64) {
    metrics::counter!("telemetry_dropped_total", "signal" => signal).increment(n);
}

/// Records one request's latency; `trace_id` (of a sampled trace) becomes the bucket's exemplar.
pub(crate) fn observe_request(
    method: &'static str,
    route: &str,
    status: u16,
    seconds: f64,
    trace_id: Option<u128>,
) {
    let Some(exemplary) = EXEMPLARY.get() else {
        return;
    };
    let class = status_class(status);
    let histogram = LATENCIES
        .get_or_init(Handles::new)
        .get(route, method, class, || {
            let labels = RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status_class: class.to_owned(),
            };
            exemplary.latency.get_or_create(&labels).clone()
        });
    histogram.observe(
        seconds,
        trace_id.map(|id| TraceExemplar {
            trace_id: TraceHex(id),
        }),
        None,
    );
}

/// The whole exposition in the asked format.
pub fn render(openmetrics: bool) -> String {
    if let Some(process) = PROCESS.get() {
        process.collect();
    }
    let recorded = RECORDER.get().map(|h| h.render()).unwrap_or_default();
    let mut exemplary = String::new();
    if let Some(e) = EXEMPLARY.get() {
        prometheus_client::encoding::text::encode(&mut exemplary, &e.registry).ok();
    }
    let exemplary = exemplary.trim_end().trim_end_matches("# EOF").trim_end();
    let mut out = if openmetrics {
        as_openmetrics(&recorded)
    } else {
        recorded
    };
    for line in exemplary.lines().filter(|l| !l.is_empty()) {
        // The Prometheus text format has no exemplars.
        let line = if openmetrics {
            line
        } else {
            line.split(" # {").next().unwrap_or(line)
        };
        out.push_str(line);
        out.push('\n');
    }
    if openmetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// OpenMetrics names a counter family without its `_total` suffix (the samples keep it), and
/// allows no blank line (the recorder puts one between families; Prometheus refuses the whole
/// scrape for it).
fn as_openmetrics(text: &str) -> String {
    let counters: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(text.len());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let renamed = counters.iter().find_map(|name| {
            let family = name.strip_suffix("_total")?;
            for prefix in ["# TYPE ", "# HELP "] {
                if let Some(rest) = line
                    .strip_prefix(prefix)
                    .and_then(|r| r.strip_prefix(*name))
                    && (rest.is_empty() || rest.starts_with(' '))
                {
                    return Some(format!("{prefix}{family}{rest}"));
                }
            }
            None
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// `GET /metrics`: OpenMetrics when the scraper asks for it, Prometheus text otherwise.
#[derive(Default, Clone)]
pub struct Exposition {
    collect: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Exposition {
    /// Runs `collect` before each rendering: for gauges read off something at scrape time.
    pub fn collecting(collect: impl Fn() + Send + Sync + 'static) -> Exposition {
        Exposition {
            collect: Some(Arc::new(collect)),
        }
    }
}

impl Endpoint for Exposition {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if let Some(collect) = &self.collect {
            collect();
        }
        let openmetrics = req
            .header("accept")
            .is_some_and(|a| a.contains("application/openmetrics-text"));
        let (body, content_type) = if openmetrics {
            (
                render(true),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
        } else {
            (render(false), "text/plain; version=0.0.4; charset=utf-8")
        };
        Ok(Response::builder().content_type(content_type).body(body))
    }
}

/// A label whose values are capped: the first `cap` distinct values keep their name, later
/// ones fold into `other`, so a tenant label cannot grow Prometheus's series without bound.
/// The tenant label of every signal: metrics (the service's) and Loki streams name the same
/// tenants, the first `cap_tenant_labels` to be named, and fold the rest into `other`.
static TENANTS: OnceLock<LabelCap> = OnceLock::new();

/// Sets how many tenants get a label of their own (the first call wins; default 100).
pub fn cap_tenant_labels(cap: usize) {
    TENANTS.get_or_init(|| LabelCap::new(cap));
}

/// The label for `tenant`: itself while the cap allows, else `other`.
pub fn tenant_label(tenant: &str) -> String {
    TENANTS.get_or_init(|| LabelCap::new(100)).label(tenant)
}

pub struct LabelCap {
    cap: usize,
    seen: Mutex<HashSet<String>>,
}

impl LabelCap {
    pub fn new(cap: usize) -> LabelCap {
        LabelCap {
            cap,
            seen: Mutex::new(HashSet::new()),
        }
    }

    pub fn label(&self, value: &str) -> String {
        let Ok(mut seen) = self.seen.lock() else {
            return "other".into();
        };
        if seen.contains(value) {
            return value.to_owned();
        }
        if seen.len() < self.cap {
            seen.insert(value.to_owned());
            return value.to_owned();
        }
        "other".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_lose_total_in_openmetrics_family_names() {
        let text = "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n\n# TYPE g gauge\ng 1\n";
        let om = as_openmetrics(text);
        assert!(!om.contains("\n\n"), "{om}");
        assert!(om.contains("# TYPE a counter\n"), "{om}");
        assert!(om.contains("# HELP a Things.\n"), "{om}");
        assert!(om.contains("a_total{x=\"1\"} 3\n"), "{om}");
        assert!(om.contains("# TYPE g gauge\n"), "{om}");
    }

    #[test]
    fn the_cap_folds_late_values() {
        let cap = LabelCap::new(2);
        assert_eq!(cap.label("a"), "a");
        assert_eq!(cap.label("b"), "b");
        assert_eq!(cap.label("c"), "other");
        assert_eq!(cap.label("a"), "a");
    }
}
