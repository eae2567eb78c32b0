//! Telemetry end to end: the app with telemetry installed, against in-test OTLP and Loki
//! receivers (`support::receivers`). Each test installs global telemetry, so each needs a
//! process of its own (nextest; `scripts/test.sh` runs them one by one under `cargo test`).

mod connections;
mod dashboards;
mod deployments;
mod labels;
mod real;
mod spans;

use std::time::{Duration, Instant};

use crate::support::receivers::{Received, attribute};
use crate::support::{Engine, PATIENCE, TenantClient, spawn_app, spawn_with, today};
use policy_service::platform::tls::{Tls, TlsSettings};
use reqwest::Method;
use serde_json::{Value, json};
use telemetry::{LogFormat, TelemetryConfig};

fn config(loki: &str, otlp: &str) -> TelemetryConfig {
    TelemetryConfig {
        service_name: "policy-service".into(),
        service_version: "test".into(),
        service_revision: "unknown".into(),
        environment: "test".into(),
        namespace: Some("insurance".into()),
        log_format: LogFormat::Json,
        log_filter: "info".into(),
        logs_to_stderr: false,
        loki: Some(endpoint(loki.into())),
        otlp: Some(telemetry::Otlp {
            endpoint: endpoint(format!("{otlp}/v1/traces")),
            gzip: false,
            timeout: Duration::from_secs(10),
        }),
        log_queue: 10_000,
    }
}

/// A plain-HTTP endpoint under the service's TLS policy (the receivers here speak HTTP).
fn endpoint(url: String) -> telemetry::Endpoint {
    let tls = Tls::load(&TlsSettings {
        extra_ca_certs: None,
    })
    .expect("the system's roots");
    telemetry::Endpoint {
        url,
        headers: Default::default(),
        tls: std::sync::Arc::new(tls.client(None, None).expect("a TLS client")),
    }
}

fn install(receiver: &str) -> telemetry::Telemetry {
    install_with(receiver, receiver, 100)
}

fn install_with(loki: &str, otlp: &str, tenant_labels: usize) -> telemetry::Telemetry {
    // Export every 100 ms instead of every 5 s, so the test need not wait.
    // SAFETY: set before any other thread of this test process reads the environment.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100")
    };
    let t = telemetry::init(&config(loki, otlp)).expect("telemetry installs");
    policy_service::business_metrics::init(tenant_labels);
    t
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// `/metrics` in the Prometheus text format.
async fn scrape(app: &crate::support::TestApp) -> String {
    let resp = app
        .http
        .get(format!("{}/metrics", app.metrics_address))
        .send()
        .await
        .expect("scrape");
    resp.text().await.expect("metrics text")
}

async fn get_with(t: &TenantClient, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = t.request(Method::GET, "/v1/insureds");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.expect("request");
    assert_eq!(resp.status(), 200);
    resp
}

/// `telemetry_dropped_total{signal}` in a scrape (0 when absent).
fn dropped(text: &str, signal: &str) -> f64 {
    let sample = format!("telemetry_dropped_total{{signal=\"{signal}\"}}");
    text.lines()
        .find(|l| l.starts_with(&sample))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The value of the sample `name{…tenant="slug"…extra…}`.
fn value_of(text: &str, name: &str, slug: &str, extra: &str) -> Option<f64> {
    let tenant = format!("tenant=\"{slug}\"");
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(&tenant) && l.contains(extra))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Scrapes until the tenant's gauges read as wanted (they are recounted in the background).
async fn metrics_showing(
    app: &crate::support::TestApp,
    slug: &str,
    wanted: &[(String, f64)],
) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = scrape(app).await;
        let off: Vec<String> = wanted
            .iter()
            .filter_map(|(prefix, n)| {
                let name = prefix.split('{').next().unwrap_or_default();
                let status = &prefix[name.len() + 1..];
                let got = value_of(&text, name, slug, status);
                (got != Some(*n)).then(|| format!("{prefix}: {got:?}, want {n}"))
            })
            .collect();
        if off.is_empty() {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "gauges never settled: {off:?}\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_and_w3c_contexts_reach_spans_logs_and_headers() {
    let received = Received::default();
    let receiver = crate::support::receivers::start(received.clone()).await;
    let telemetry = install(&receiver);
    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;

    let cases = [
        (
            "b3 multi",
            "463ac35c9f6413ad48485a3953bb6124",
            "a2fb4a1d1a96d312",
        ),
        (
            "b3 single",
            "5b8aa5a2d2c872e8321cf37308d69df2",
            "051581bf3cb55c13",
        ),
        (
            "w3c",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
        ),
    ];
    for (kind, trace, parent) in cases {
        let single = format!("{trace}-{parent}-1");
        let traceparent = format!("00-{trace}-{parent}-01");
        let headers: Vec<(&str, &str)> = match kind {
            "b3 multi" => vec![
                ("X-B3-TraceId", trace),
                ("X-B3-SpanId", parent),
                ("X-B3-Sampled", "1"),
            ],
            "b3 single" => vec![("b3", &single)],
            _ => vec![("traceparent", &traceparent)],
        };
        let resp = get_with(&t, &headers).await;
        assert_eq!(header(&resp, "x-b3-traceid"), trace, "{kind}");
        let span_id = header(&resp, "x-b3-spanid");
        assert_eq!(span_id.len(), 16, "{kind}");
        assert_ne!(
            span_id, parent,
            "{kind}: the server span is a new span under the caller's"
        );
        assert_eq!(
            header(&resp, "traceparent"),
            format!("00-{trace}-{span_id}-01"),
            "{kind}"
        );
    }
    // No context: a new trace, still announced.
    let fresh = get_with(&t, &[]).await;
    let fresh_trace = header(&fresh, "x-b3-traceid");
    assert_eq!(fresh_trace.len(), 32);
    assert!(cases.iter().all(|(_, trace, _)| *trace != fresh_trace));

    telemetry.shutdown(PATIENCE).await;

    let spans = received.spans();
    for (kind, trace, parent) in cases {
        let span = spans
            .iter()
            .find(|s| hex::encode(&s.trace_id) == trace && s.kind == 2)
            .unwrap_or_else(|| {
                let got: Vec<String> = spans
                    .iter()
                    .map(|s| format!("{} {} (kind {})", hex::encode(&s.trace_id), s.name, s.kind))
                    .collect();
                panic!(
                    "{kind}: no server span of trace {trace} among {} received: {got:#?}",
                    spans.len()
                )
            });
        assert_eq!(hex::encode(&span.parent_span_id), parent, "{kind}");
        assert_eq!(span.name, "GET /v1/insureds");
        assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
        assert_eq!(
            attribute(span, "http.route").as_deref(),
            Some("/v1/insureds")
        );
        assert_eq!(
            attribute(span, "http.request.method").as_deref(),
            Some("GET")
        );
        assert_eq!(
            attribute(span, "http.response.status_code").as_deref(),
            Some("200")
        );
        assert_eq!(
            attribute(span, "tenant.id").as_deref(),
            Some(t.slug.as_str())
        );
        let statement = spans
            .iter()
            .find(|s| s.parent_span_id == span.span_id && s.name == "SELECT insureds")
            .unwrap_or_else(|| panic!("{kind}: no statement span under the server span"));
        assert_eq!(statement.kind, 3, "SPAN_KIND_CLIENT");
        assert_eq!(statement.trace_id, span.trace_id);
        assert_eq!(
            attribute(statement, "db.system.name").as_deref(),
            Some("sqlite")
        );
        let text = attribute(statement, "db.query.text").unwrap_or_default();
        assert!(
            text.starts_with("SELECT") && text.contains("FROM insureds"),
            "{text}"
        );

        let lines = received.lines();
        let (labels, line) = lines
            .iter()
            .find(|(_, line)| line.contains(trace) && line.contains("request served"))
            .unwrap_or_else(|| panic!("{kind}: no access line of trace {trace}"));
        let line: Value = serde_json::from_str(line).expect("JSON log line");
        assert_eq!(line["trace_id"], trace);
        assert_eq!(line["span_id"].as_str().map(str::len), Some(16));
        assert_eq!(line["tenant"], t.slug.as_str());
        assert_eq!(line["route"], "/v1/insureds");
        for label in [
            "app=\"policy-service\"",
            "env=\"test\"",
            "namespace=\"insurance\"",
            &format!("tenant=\"{}\"", t.slug),
        ] {
            assert!(labels.contains(label), "{kind}: {labels} lacks {label}");
        }
        assert!(
            !labels.contains("trace_id"),
            "trace ids are fields, never labels"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_business_and_carry_exemplars() {
    let received = Received::default();
    let receiver = crate::support::receivers::start(received.clone()).await;
    let telemetry = install(&receiver);
    let app = spawn_with(Engine::Sqlite, &["--metrics-status-refresh-ms", "50"]).await;
    let t = app.tenant().await;
    let other = app.tenant().await;
    other.active_policy().await;

    let policy = t.active_policy().await;
    let id = policy["id"].as_str().unwrap();
    t.post(
        "/v1/payments",
        json!({"policy_id": id, "amount_minor": 75_000, "currency": "EUR", "method": "card"}),
    )
    .await
    .ok(201);
    let claim = t
        .post(
            "/v1/claims",
            json!({"policy_id": id, "incident_date": today().to_string(), "description": "Hail", "amount_claimed_minor": 500}),
        )
        .await
        .ok(201)
        .clone();

    let gauges = |policies: [f64; 4], claims: [f64; 5]| {
        let mut wanted: Vec<(String, f64)> = ["bound", "active", "cancelled", "expired"]
            .iter()
            .zip(policies)
            .map(|(s, n)| (format!("policies_by_status{{status=\"{s}\""), n))
            .collect();
        wanted.extend(
            ["open", "in_review", "approved", "rejected", "closed"]
                .iter()
                .zip(claims)
                .map(|(s, n)| (format!("claims_by_status{{status=\"{s}\""), n)),
        );
        wanted
    };
    let text = metrics_showing(
        &app,
        &t.slug,
        &gauges([0., 1., 0., 0.], [1., 0., 0., 0., 0.]),
    )
    .await;
    let value = |name: &str, extra: &str| value_of(&text, name, &t.slug, extra);
    assert_eq!(value("policies_bound_total", ""), Some(1.0), "{text}");
    assert!(
        !text.contains("policies_created_total"),
        "one counter for one fact"
    );
    assert_eq!(value("payments_received_total", ""), Some(1.0));
    assert_eq!(
        value("payments_amount_total", "currency=\"EUR\""),
        Some(75_000.0)
    );
    assert_eq!(value("claims_opened_total", ""), Some(1.0));
    // Every committed change queued its search update: two tenants' bind and activate, and
    // this one's payment and claim.
    let indexed = text
        .lines()
        .find(|l| l.starts_with("queue_jobs_dispatched_total{type=\"UpdateSearchIndex\"}"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok());
    assert_eq!(indexed, Some(6.0), "{text}");
    assert_eq!(
        value_of(
            &text,
            "policies_by_status",
            &other.slug,
            "status=\"active\""
        ),
        Some(1.0),
        "each tenant has its own gauges"
    );

    // Status changes reach the gauges in the next round.
    let claim_id = claim["id"].as_str().unwrap();
    t.post(
        &format!("/v1/claims/{claim_id}/status"),
        json!({"status": "in_review"}),
    )
    .await
    .ok(200);
    t.post(
        &format!("/v1/policies/{id}/cancel"),
        json!({"reason": "Sold the car"}),
    )
    .await
    .ok(200);
    let text = metrics_showing(
        &app,
        &t.slug,
        &gauges([0., 0., 1., 0.], [0., 1., 0., 0., 0.]),
    )
    .await;
    for expected in [
        "db_pool_connections{pool=\"landlord\",state=\"idle\"}",
        "db_pool_connections{pool=\"tenant\",state=\"in_use\"}",
        "db_pool_max_connections{pool=\"tenant\"}",
        "db_pool_acquire_duration_seconds_bucket{pool=\"tenant\",le=\"0.001\"}",
        "build_info{service=\"policy-service\",version=\"test\",revision=\"unknown\"} 1",
        "process_resident_memory_bytes",
    ] {
        assert!(
            text.contains(expected),
            "/metrics lacks {expected}:\n{text}"
        );
    }
    for expected in [
        "http_server_request_duration_seconds_bucket{",
        "route=\"/v1/quotes/{id}/bind\"",
        "status_class=\"2xx\"",
        "http_server_active_requests",
        "telemetry_dropped_total{signal=\"spans\"}",
    ] {
        assert!(text.contains(expected), "/metrics lacks {expected}");
    }
    assert!(
        !text.contains(" # {"),
        "the Prometheus text format has no exemplars"
    );

    let om = app
        .http
        .get(format!("{}/metrics", app.metrics_address))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(header(&om, "content-type").starts_with("application/openmetrics-text"));
    let om = om.text().await.unwrap();
    assert!(om.ends_with("# EOF\n"));
    let exemplar_ids: Vec<String> = om
        .lines()
        .filter_map(|l| {
            l.split_once("# {trace_id=\"")?
                .1
                .split('"')
                .next()
                .map(str::to_owned)
        })
        .collect();
    assert!(!exemplar_ids.is_empty(), "no exemplar in:\n{om}");

    telemetry.shutdown(PATIENCE).await;
    let seen: Vec<String> = received
        .spans()
        .iter()
        .map(|s| hex::encode(&s.trace_id))
        .collect();
    assert!(
        exemplar_ids.iter().any(|id| seen.contains(id)),
        "no exemplar trace id was received by the OTLP receiver"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_receivers_down_requests_succeed_and_drops_are_counted() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let _telemetry = install(&closed);
    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    for chunk in 0..125 {
        let batch = (0..8).map(|_| t.get("/v1/insureds"));
        for resp in futures::future::join_all(batch).await {
            assert_eq!(resp.status, 200, "request in chunk {chunk}");
        }
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = scrape(&app).await;
        if dropped(&text, "spans") > 0.0 && dropped(&text, "logs") > 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "drops were not counted:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_past_the_label_cap_add_up_in_other() {
    let received = Received::default();
    let receiver = crate::support::receivers::start(received.clone()).await;
    let _telemetry = install_with(&receiver, &receiver, 1);
    let app = spawn_with(Engine::Sqlite, &["--metrics-status-refresh-ms", "50"]).await;
    let first = app.tenant().await;
    first.active_policy().await;
    // Once its gauges show, the first tenant holds the one label (and the start-up count of
    // existing tenants is over), so the next two fold into `other`.
    let one_active = [("policies_by_status{status=\"active\"".to_owned(), 1.0)];
    metrics_showing(&app, &first.slug, &one_active).await;
    let (second, third) = (app.tenant().await, app.tenant().await);
    second.active_policy().await;
    third.active_policy().await;
    third.bound_policy().await;

    let wanted = [
        ("policies_by_status{status=\"active\"".to_owned(), 2.0),
        ("policies_by_status{status=\"bound\"".to_owned(), 1.0),
    ];
    let text = metrics_showing(&app, "other", &wanted).await;
    assert_eq!(
        value_of(&text, "policies_bound_total", "other", ""),
        Some(3.0)
    );
    assert_eq!(
        value_of(
            &text,
            "policies_by_status",
            &first.slug,
            "status=\"active\""
        ),
        Some(1.0)
    );
    for folded in [&second.slug, &third.slug] {
        assert!(
            !text.contains(folded.as_str()),
            "{folded} has a label of its own"
        );
    }
    // Loki's streams share the cap and the named tenant.
    let deadline = Instant::now() + PATIENCE;
    let tenant_of = |labels: &str| {
        let rest = labels.split("tenant=\"").nth(1).unwrap_or_default();
        rest.split('"').next().unwrap_or_default().to_owned()
    };
    loop {
        let tenants: Vec<String> = received.lines().iter().map(|(l, _)| tenant_of(l)).collect();
        if tenants.iter().any(|t| t == "other") {
            assert!(tenants.contains(&first.slug), "{tenants:?}");
            for folded in [&second.slug, &third.slug] {
                assert!(
                    !tenants.contains(folded),
                    "{folded} has a Loki label: {tenants:?}"
                );
            }
            break;
        }
        assert!(Instant::now() < deadline, "no Loki line labelled other");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recounts_see_other_replicas_writes_and_never_keep_a_pool_open() {
    let received = Received::default();
    let receiver = crate::support::receivers::start(received.clone()).await;
    let _telemetry = install(&receiver);
    let app = spawn_with(
        Engine::Sqlite,
        &[
            "--metrics-status-refresh-ms",
            "50",
            "--metrics-status-recount-secs",
            "1",
            "--tenant-pool-idle-secs",
            "1",
        ],
    )
    .await;
    let t = app.tenant().await;
    t.active_policy().await;
    let status = |s: &str, n: f64| (format!("policies_by_status{{status=\"{s}\""), n);
    metrics_showing(&app, &t.slug, &[status("active", 1.0)]).await;

    // A write this replica never saw, as another replica would make it.
    t.execute("UPDATE policies SET status = 'expired'").await;
    metrics_showing(
        &app,
        &t.slug,
        &[status("active", 0.0), status("expired", 1.0)],
    )
    .await;

    // Recounts go on every second; the idle pool must still close.
    let deadline = Instant::now() + PATIENCE;
    while app.state.tenancy.open_pools() > 0 {
        assert!(
            Instant::now() < deadline,
            "the recounts keep the tenant's pool open"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_collector_costs_spans_not_requests() {
    // Takes connections and never answers: the first export hangs until its timeout, and the
    // spans behind it fill the queue.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", hole.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hole.accept().await {
            held.push(socket);
        }
    });
    // SAFETY: set before any other thread of this test process reads the environment.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("OTEL_BSP_MAX_QUEUE_SIZE", "16");
        std::env::set_var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8");
    }
    let _telemetry = install(&address);
    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    for n in 0..100 {
        assert_eq!(t.get("/v1/insureds").await.status, 200, "request {n}");
    }
    // Counted as they are dropped, long before the hung export could fail and be counted.
    let dropped = dropped(&scrape(&app).await, "spans");
    assert!(
        dropped >= 100.0,
        "spans dropped at a full queue are counted: {dropped}"
    );
}
