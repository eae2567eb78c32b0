//! The probes: live checks nothing outside; ready checks the landlord (and reports Redis).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{
    both_engines,
    support::redis_server::RedisServer,
    support::{Engine, PATIENCE, TestApp, spawn_app, spawn_with},
};

both_engines!(probes_answer_without_kong_headers);

/// The body of the first readiness answer that is 200 and satisfies `wanted`, asked for at most
/// `PATIENCE`. A 503 on the way is asked again: on a busy machine the landlord check may hit its
/// bound (1.5 s) for a moment.
async fn ready_when(app: &TestApp, wanted: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + PATIENCE;
    loop {
        let ready = app.get("/health/ready").await;
        if ready.status == 200 && wanted(&ready.body) {
            return ready.body;
        }
        assert!(
            Instant::now() < until,
            "readiness not as wanted within {PATIENCE:?}; the last: {} {}",
            ready.status,
            ready.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn probes_answer_without_kong_headers(engine: Engine) {
    let app = spawn_app(engine).await;
    assert_eq!(app.get("/health/live").await.ok(200)["status"], "ok");
    let body = ready_when(&app, |_| true).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"][0]["name"], "landlord_db");
    assert_eq!(body["checks"][0]["status"], "ok");
    assert!(body["checks"][0]["latency_ms"].is_number());
}

/// Redis is a speed-up, not a need: its outage makes readiness `degraded` (200), so no replica
/// leaves the load balancer for it.
#[tokio::test]
async fn readiness_is_degraded_while_redis_is_down() {
    let mut redis = RedisServer::start().await;
    let app = spawn_with(Engine::Sqlite, &[&format!("REDIS_URL={}", redis.url())]).await;
    // Connected in the background: ready says ok once the first probe reached Redis.
    ready_when(&app, |body| {
        body["checks"].as_array().is_some_and(|checks| {
            checks
                .iter()
                .any(|c| c["name"] == "redis" && c["status"] == "ok")
        })
    })
    .await;

    redis.kill();
    let down = ready_when(&app, |_| true).await;
    assert_eq!(down["status"], "degraded");
    let redis_check = down["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "redis")
        .cloned();
    let redis_check = redis_check.expect("a redis check");
    assert_eq!(redis_check["status"], "degraded");
    // The unauthenticated probe names no cause (driver errors carry users and hosts).
    assert!(["unavailable", "timeout"].contains(&redis_check["error"].as_str().unwrap()));
    app.get("/health/live").await.ok(200);
}

#[tokio::test]
async fn metrics_move_to_their_own_port_when_asked() {
    let app = spawn_with(Engine::Sqlite, &["--metrics-port", "0"]).await;
    assert_ne!(app.metrics_address, app.address);
    let on_api = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("API port answers");
    assert_eq!(on_api.status(), 404, "/metrics is off the API port");
    let on_admin = app
        .http
        .get(format!("{}/metrics", app.metrics_address))
        .send()
        .await
        .expect("metrics port answers");
    assert_eq!(on_admin.status(), 200);
    assert!(
        on_admin
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"))
    );
}
