//! The dashboards and alert rules against what the service really emits (dashboards/): both ways.
//! Every metric a panel or a rule names is on `/metrics` after a flow that touches every part
//! (a Redis outage included), and every metric family on `/metrics` is on some dashboard, so a
//! renamed metric and a metric without a panel both fail here. Queries are parsed with a real
//! PromQL parser. The dashboards' structure and the rules' annotations are checked too;
//! `dashboards/prove.sh` then runs every query against a real Prometheus.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::{Duration, Instant},
};

use promql_parser::parser::{self, Expr};
use serde_json::{Value, json};

use crate::{
    signals::install,
    signals::scrape,
    support::receivers,
    support::receivers::Received,
    support::redis_server::RedisServer,
    support::{Engine, PATIENCE, TenantClient, TestApp, spawn_with, today, unique},
};

/// The labels of the service's Loki streams (telemetry/src/loki.rs).
const LOKI_LABELS: [&str; 5] = ["app", "env", "namespace", "tenant", "level"];
/// Metrics Prometheus itself makes, not the service.
const PROMETHEUS_MADE: [&str; 1] = ["up"];

pub(super) fn dashboards_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dashboards")
}

/// Grafana's variables as a query is run: every tenant, every level, a 1-minute rate window.
pub(super) fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "5m")
        .replace("${tenant}", ".*")
        .replace("$tenant", ".*")
        .replace("$level", ".*")
}

/// Calls `f` on `expr` and every expression inside it.
pub(super) fn visit<'a>(expr: &'a Expr, f: &mut impl FnMut(&'a Expr)) {
    f(expr);
    match expr {
        Expr::Aggregate(a) => {
            visit(&a.expr, f);
            if let Some(p) = &a.param {
                visit(p, f);
            }
        }
        Expr::Unary(u) => visit(&u.expr, f),
        Expr::Binary(b) => {
            visit(&b.lhs, f);
            visit(&b.rhs, f);
        }
        Expr::Paren(p) => visit(&p.expr, f),
        Expr::Subquery(s) => visit(&s.expr, f),
        Expr::Call(c) => c.args.args.iter().for_each(|a| visit(a, f)),
        Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::Extension(_) => {}
    }
}

/// `expr` parsed by a real PromQL parser, Grafana's variables substituted.
pub(super) fn parse(what: &str, expr: &str) -> Expr {
    parser::parse(&substitute(expr)).unwrap_or_else(|e| panic!("{what}: {e}\n{expr}"))
}

/// Every metric name an expression selects.
fn parsed(what: &str, expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    visit(&parse(what, expr), &mut |e| match e {
        Expr::VectorSelector(v) => out.extend(v.name.clone()),
        Expr::MatrixSelector(m) => out.extend(m.vs.name.clone()),
        _ => {}
    });
    out
}

/// Every dashboard, by file name.
pub(super) fn dashboards() -> BTreeMap<String, Value> {
    let dir = dashboards_dir().join("grafana");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("dashboards/grafana") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("dashboard");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.insert(name, serde_json::from_str(&text).expect("dashboard JSON"));
        }
    }
    out
}

/// Checks a dashboard's structure; returns its PromQL and LogQL queries.
pub(super) fn check_dashboard(file: &str, board: &Value) -> (Vec<String>, Vec<String>) {
    let variables: BTreeSet<&str> = board["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    let (mut promql, mut logql, mut ids) = (Vec::new(), Vec::new(), BTreeSet::new());
    for panel in board["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().unwrap_or_default();
        let id = panel["id"].as_u64().expect("a panel id");
        assert!(ids.insert(id), "{file}: panel id {id} twice");
        if panel["type"] == "row" {
            continue;
        }
        for holder in
            std::iter::once(panel).chain(panel["targets"].as_array().into_iter().flatten())
        {
            let uid = holder["datasource"]["uid"].as_str().unwrap_or_default();
            let kind = uid.trim_start_matches("${").trim_end_matches('}');
            assert!(
                ["${prometheus}", "${loki}", "${tempo}"].contains(&uid) && variables.contains(kind),
                "{file} / {title}: datasource {uid} is not one of the dashboard's variables"
            );
        }
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr").to_owned();
            if expr.contains("$tenant") {
                assert!(
                    variables.contains("tenant"),
                    "{file}: $tenant without a variable"
                );
            }
            if target["datasource"]["type"] == "loki" {
                logql.push(expr);
                continue;
            }
            if expr.contains("histogram_quantile") {
                assert_eq!(
                    target["exemplar"],
                    json!(true),
                    "{file} / {title}: exemplars off"
                );
            }
            promql.push(expr);
        }
    }
    (promql, logql)
}

/// The label names a LogQL query's stream selector uses.
pub(super) fn stream_labels(expr: &str) -> Vec<String> {
    let selector = expr
        .split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .map_or("", |(inside, _)| inside);
    selector
        .split(',')
        .filter_map(|m| {
            let name: String = m
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// The rules: every alert annotated, with a runbook that exists; the expressions of all.
pub(super) fn rules() -> (Vec<String>, BTreeSet<String>) {
    let path = dashboards_dir().join("alerts/policy-service.rules.yml");
    let doc: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).expect("rules")).expect("YAML");
    let (mut exprs, mut recorded) = (Vec::new(), BTreeSet::new());
    for group in doc["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            exprs.push(rule["expr"].as_str().expect("expr").to_owned());
            if let Some(name) = rule["record"].as_str() {
                recorded.insert(name.to_owned());
                continue;
            }
            let alert = rule["alert"].as_str().expect("alert");
            assert!(
                rule["labels"]["severity"].as_str().is_some(),
                "{alert}: severity"
            );
            assert!(
                rule["annotations"]["summary"].as_str().is_some(),
                "{alert}: summary"
            );
            let runbook = rule["annotations"]["runbook_url"]
                .as_str()
                .expect("runbook_url");
            let file = runbook.rsplit('/').next().unwrap_or_default();
            assert!(
                dashboards_dir().join("runbooks").join(file).is_file(),
                "{alert}: no runbook {file}"
            );
        }
    }
    (exprs, recorded)
}

/// Series names and metric families on a scrape.
fn emitted(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut series = BTreeSet::new();
    let mut families = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            families.extend(rest.split(' ').next().map(str::to_owned));
        } else if !line.starts_with('#') && !line.is_empty() {
            let name: String = line
                .chars()
                .take_while(|c| *c != '{' && *c != ' ')
                .collect();
            series.insert(name);
        }
    }
    (series, families)
}

/// A Pusher socket of `app` subscribed to the tenant's channel.
async fn listen(
    app: &crate::support::TestApp,
    slug: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use futures::{SinkExt, StreamExt};
    let url = format!("{}/app/policy-service", app.address.replace("http", "ws"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("socket");
    let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(hello))) = ws.next().await else {
        panic!("no connection_established");
    };
    let hello: Value = serde_json::from_str(hello.as_str()).expect("JSON");
    let data: Value = serde_json::from_str(hello["data"].as_str().expect("data")).expect("JSON");
    let socket_id = data["socket_id"].as_str().expect("socket id");
    let channel = format!("private-tenant.{slug}");
    let auth = app.state.signer.sign(socket_id, &channel);
    let subscribe =
        json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth}});
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        subscribe.to_string().into(),
    ))
    .await
    .expect("subscribe");
    ws.next().await;
    ws
}

/// A flow that touches every part: the business, both cache tiers and two replicas, the jobs,
/// and a Redis outage (errors, the breaker, the backplane's reconnect, a push kept for later).
/// `apps` are the two replicas `t` and `other` call.
async fn everything(
    apps: [&TestApp; 2],
    t: &TenantClient,
    other: &TenantClient,
    redis: &mut RedisServer,
) {
    let policy = t.active_policy().await;
    let id = policy["id"].as_str().unwrap().to_owned();
    t.post(
        "/v1/payments",
        json!({"policy_id": id, "amount_minor": 100, "currency": "EUR", "method": "card"}),
    )
    .await
    .ok(201);
    let claim = t
        .post(
            "/v1/claims",
            json!({"policy_id": id, "incident_date": today().to_string(), "description": "Hail", "amount_claimed_minor": 50}),
        )
        .await
        .ok(201)
        .clone();
    let claim_path = format!("/v1/claims/{}/status", claim["id"].as_str().unwrap());
    t.post(&claim_path, json!({"status": "in_review"})).await;
    // A document up and down (the local disk): its bytes and the object store's calls.
    let part = reqwest::multipart::Part::bytes(b"%PDF-1.7\n%%EOF\n".to_vec()).file_name("a.pdf");
    let form = reqwest::multipart::Form::new()
        .text("type", "other")
        .part("file", part);
    let documents = format!("/v1/claims/{}/documents", claim["id"].as_str().unwrap());
    let document = t
        .send(t.request(reqwest::Method::POST, &documents).multipart(form))
        .await;
    let content = format!("/v1/documents/{}/content", document.id());
    assert_eq!(
        t.send(t.request(reqwest::Method::GET, &content))
            .await
            .status,
        200
    );
    let path = format!("/v1/policies/{id}");
    for c in [t, other, t, other] {
        c.get(&path).await.ok(200);
        c.get("/v1/policies/active").await.ok(200);
    }
    other
        .patch(&path, json!({"notes": "seen by both"}))
        .await
        .ok(200);
    t.get(&path).await.ok(200);

    redis.kill();
    for _ in 0..5 {
        t.get(&path).await.ok(200);
    }
    t.patch(&path, json!({"notes": "while Redis was down"}))
        .await
        .ok(200);
    redis.restart().await;
    // Back on Redis (the breaker's probe and the backplane's reconnect, however long a busy
    // machine takes) before the last read.
    for app in apps {
        let kv = app.state.redis.clone().expect("Redis configured");
        assert!(kv.wait_up(PATIENCE).await, "Redis not reached again");
        assert!(
            app.state.cache.backplane_up(PATIENCE).await,
            "the backplane did not come back"
        );
    }
    t.get(&path).await.ok(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_and_rule_metric_is_emitted_and_every_emitted_metric_is_shown() {
    let received = Received::default();
    let receiver = receivers::start(received.clone()).await;
    let telemetry = install(&receiver);
    let mut redis = RedisServer::start().await;
    let prefix = format!("pstest:{}:", unique());
    let url = redis.url();
    // A partner behind Camel: the bound policies' notices and a rating go to it.
    let partner = crate::support::partner::Partner::start().await;
    let redis_url = format!("REDIS_URL={url}");
    let flags = [
        redis_url.as_str(),
        "--redis-prefix",
        &prefix,
        "--metrics-status-refresh-ms",
        "50",
        "--camel-url",
        &partner.url,
        // Every consumer is near its limit at once: the rate-limit warnings are counted too.
        "--rate-limit-warn-remaining",
        "1000000",
    ];
    let app = spawn_with(Engine::Sqlite, &flags).await;
    let replica = app.replica(&flags).await;
    for a in [&app, &replica] {
        assert!(a.state.cache.backplane_up(PATIENCE).await, "backplane");
    }
    let t = app.tenant().await;
    let other = replica.client_for(&t.slug).await;
    // A Pusher socket on the tenant's channel, so broadcasts are delivered.
    let _socket = listen(&app, &t.slug).await;
    // The worker's metrics too: it runs the app's jobs, in this process.
    let (stop_worker, worker_stops) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(policy_service::platform::queue::worker::run(
        app.state.runner(),
        async {
            worker_stops.await.ok();
        },
    ));
    everything([&app, &replica], &t, &other, &mut redis).await;
    let insured = t.insured().await;
    let quote = t.quote(insured["id"].as_str().unwrap()).await;
    let rate = format!("/v1/quotes/{}/rate", quote["id"].as_str().unwrap());
    t.send(t.request(reqwest::Method::POST, &rate))
        .await
        .ok(200);

    let (mut shown, mut checked) = (BTreeSet::new(), 0);
    for (file, board) in dashboards() {
        let (promql, logql) = check_dashboard(&file, &board);
        for expr in &promql {
            shown.extend(parsed(&file, expr));
            checked += 1;
        }
        for expr in &logql {
            for label in stream_labels(expr) {
                assert!(
                    LOKI_LABELS.contains(&label.as_str()),
                    "{file}: no Loki label {label}"
                );
            }
        }
    }
    let (rule_exprs, recorded) = rules();
    let mut ruled = BTreeSet::new();
    for expr in &rule_exprs {
        ruled.extend(parsed("rules", expr));
    }
    let used: BTreeSet<&String> = shown
        .iter()
        .chain(&ruled)
        .filter(|n| !recorded.contains(n.as_str()) && !PROMETHEUS_MADE.contains(&n.as_str()))
        .collect();
    // Some series come a moment later: the status gauges' recount, which a busy machine may
    // run late.
    let until = Instant::now() + PATIENCE;
    let (families, missing) = loop {
        let (series, families) = emitted(&scrape(&app).await);
        let missing: Vec<_> = used
            .iter()
            .filter(|n| !series.contains(n.as_str()))
            .collect();
        if missing.is_empty() || Instant::now() > until {
            break (families, missing);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stop_worker.send(()).ok();
    worker.await.ok();
    telemetry.shutdown(Duration::from_secs(5)).await;
    assert!(missing.is_empty(), "queried but not emitted: {missing:?}");
    let unshown: Vec<&String> = families
        .iter()
        .filter(|f| {
            ![
                String::new(),
                "_total".into(),
                "_bucket".into(),
                "_count".into(),
                "_sum".into(),
            ]
            .iter()
            .any(|s| shown.contains(&format!("{f}{s}")))
        })
        .collect();
    assert!(
        unshown.is_empty(),
        "emitted but on no dashboard: {unshown:?}"
    );
    println!(
        "{checked} panel queries and {} rule expressions checked",
        rule_exprs.len()
    );
}
