//! Process life: bounded tenant pools, first start on embedded defaults, graceful shutdown.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{Engine, spawn_with};

#[tokio::test]
async fn tenant_pools_stay_bounded() {
    let app = spawn_with(Engine::Sqlite, &["--tenant-pools-max", "3"]).await;
    let mut tenants = Vec::new();
    for _ in 0..8 {
        tenants.push(app.tenant().await);
    }
    for t in &tenants {
        t.get("/v1/insureds").await.ok(200);
    }
    let open = app.state.tenancy.open_pools().await;
    assert!(
        open <= 3,
        "{open} pools open for 8 tenants with TENANT_POOLS_MAX=3"
    );
    // An evicted tenant's pool is opened again on demand.
    for t in &tenants {
        t.insured().await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `policy-service serve` with no configuration but a port: it makes `./data` with a landlord
/// and the demo tenant, answers ready, drains on SIGTERM, and exits cleanly.
#[tokio::test]
async fn first_start_on_defaults_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_policy-service"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("SHUTDOWN_DRAIN_SECS", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let mut ready = None;
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(r) = http.get(format!("{base}/health/ready")).send().await {
            ready = Some(r.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, Some(200));
    let demo = http
        .get(format!("{base}/v1/insureds"))
        .header("X-Consumer-ID", "c")
        .header("X-Authenticated-Userid", "u")
        .header("X-Consumer-Custom-ID", "demo")
        .send()
        .await
        .unwrap();
    assert_eq!(demo.status(), 200, "the demo tenant exists on first start");
    assert!(dir.path().join("data/policy_landlord.db").exists());
    assert!(dir.path().join("data/tenant_demo.db").exists());

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    // Draining: still serving, but no longer ready, so the load balancer moves traffic away.
    let mut drained = false;
    for _ in 0..20 {
        let ready = http
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .unwrap();
        if ready.status() == 503 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(drained, "readiness never failed after SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(status.success(), "{logs}");
    assert!(
        logs.contains("shutdown signal received") && logs.contains("stopped"),
        "{logs}"
    );
}
