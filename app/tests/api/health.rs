//! The probes: live checks nothing outside; ready checks the landlord and Redis.

use std::{process::Stdio, time::Duration};

use crate::{
    both_engines,
    helpers::{Engine, spawn_app, spawn_with},
};

both_engines!(probes_answer_without_kong_headers);

async fn probes_answer_without_kong_headers(engine: Engine) {
    let app = spawn_app(engine).await;
    assert_eq!(app.get("/health/live").await.ok(200)["status"], "ok");
    let ready = app.get("/health/ready").await;
    let body = ready.ok(200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"][0]["name"], "landlord_db");
    assert_eq!(body["checks"][0]["status"], "ok");
    assert!(body["checks"][0]["latency_ms"].is_number());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A Redis of the test's own, so killing it harms nobody.
struct OwnRedis {
    child: std::process::Child,
    url: String,
}

impl OwnRedis {
    async fn start() -> OwnRedis {
        let port = free_port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs it)");
        // Owned before the wait, so a Redis that never answers is still killed (Drop).
        let own = OwnRedis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        let client = redis::Client::open(own.url.as_str()).expect("redis url");
        for _ in 0..100 {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
            {
                return own;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on {port} did not answer");
    }

    fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn readiness_fails_when_redis_goes_down() {
    let mut redis = OwnRedis::start().await;
    let app = spawn_with(Engine::Sqlite, &["--redis-url", &redis.url]).await;
    let ready = app.get("/health/ready").await;
    let checks = ready.ok(200)["checks"].as_array().unwrap().clone();
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "redis" && c["status"] == "ok"),
        "{checks:?}"
    );

    redis.kill();
    let down = app.get("/health/ready").await;
    assert_eq!(down.status, 503, "{}", down.body);
    assert_eq!(down.body["status"], "fail");
    let redis_check = down.body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "redis")
        .cloned();
    let redis_check = redis_check.expect("a redis check");
    assert_eq!(redis_check["status"], "fail");
    // The unauthenticated probe names no cause (driver errors carry users and hosts).
    assert!(["unavailable", "timeout"].contains(&redis_check["error"].as_str().unwrap()));
    // Liveness does not depend on Redis: a Redis outage must not restart pods.
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
