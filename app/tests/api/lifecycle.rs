//! Process life: bounded tenant pools, first start on embedded defaults, graceful shutdown.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::{Engine, PATIENCE, eventually, free_port, spawn_with};

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
    let open = app.state.tenancy.open_pools();
    assert!(
        open <= 3,
        "{open} pools open for 8 tenants with TENANT_POOLS_MAX=3"
    );
    // An evicted tenant's pool is opened again on demand.
    for t in &tenants {
        t.insured().await;
    }
}

/// The connection ceiling holds at every moment, not only in the pool count: with room for one
/// pool of two connections, a burst over five tenants never has more than two tenant connections
/// open on MariaDB (counted by the server itself), and idle pools close without further traffic.
#[tokio::test]
async fn the_connection_ceiling_holds_during_a_burst() {
    let app = spawn_with(
        Engine::MariaDb,
        &[
            "--tenant-pools-max",
            "1",
            "--tenant-max-connections",
            "2",
            "--tenant-pool-idle-secs",
            "1",
        ],
    )
    .await;
    let mut tenants = Vec::new();
    for _ in 0..5 {
        let t = app.tenant().await;
        t.active_policy().await;
        tenants.push(t);
    }
    let prefix = app.tenant_database_prefix();
    let admin = sqlx::MySqlPool::connect(&crate::support::mysql_url())
        .await
        .unwrap();
    let count = || {
        let admin = admin.clone();
        let like = format!("{}%", prefix.replace('_', "\\_"));
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM information_schema.processlist WHERE db LIKE ?",
            )
            .bind(like)
            .fetch_one(&admin)
            .await
            .unwrap()
        }
    };
    let burst = futures::future::join_all((0..24).map(|i| {
        let t = &tenants[i % tenants.len()];
        async move { t.get("/v1/policies/active").await.status }
    }));
    let watch = async {
        let mut most = 0;
        for _ in 0..400 {
            most = most.max(count().await);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        most
    };
    let (statuses, most) = tokio::join!(burst, watch);
    let ok = statuses.iter().filter(|s| **s == 200).count();
    eprintln!("burst: {ok}/24 answered 200, peak tenant connections {most}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        most <= 2,
        "{most} tenant connections open at once; the ceiling is 2"
    );
    // No further request: the idle pool closes, and its connections with it.
    eventually("idle tenant connections closed", || async {
        count().await == 0 && app.state.tenancy.open_pools() == 0
    })
    .await;
}

/// A data folder named with the characters a SQLite URL gives meaning to is used as named.
#[test]
fn data_dir_may_hold_percent_question_and_hash_signs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("100% sure?#1");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_policy-service"))
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("DATA_DIR", &data)
            .output()
            .unwrap()
    };
    let made = run(&["tenants", "create", "pct", "--name", "Percent"]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let listed = run(&["tenants", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("pct"));
    let files = std::fs::read_dir(&data).map(|d| d.count()).unwrap_or(0);
    assert!(
        files >= 2,
        "the landlord and the tenant are not in DATA_DIR"
    );
}

/// `policy-service serve` with no configuration but a port (and JSON logs): it makes `./data`
/// with a landlord and the demo tenant, answers ready, drains on SIGTERM, writes out its log
/// lines and exits cleanly.
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
        // Long enough that the poll below sees readiness fail before the listener closes, on a
        // busy machine too.
        .env("SHUTDOWN_DRAIN_SECS", "10")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let ready = format!("{base}/health/ready");
    // Not listening yet, or a 503 while its landlord check hits its bound on a busy machine:
    // asked again.
    eventually("first start ready", || async {
        http.get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
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
    // (Once the drain is over the listener closes: a refused connection there means the 503
    // was never seen, and the wait fails.)
    eventually("readiness failing after SIGTERM", || async {
        http.get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status() == 503)
    })
    .await;
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running {PATIENCE:?} after the drain began"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(status.success(), "{logs}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let said = |message: &str| lines.iter().any(|l| l["message"] == message);
    assert!(
        said("shutdown signal received") && said("stopped"),
        "the last lines are written out before exit: {logs}"
    );
    let access = lines
        .iter()
        .find(|l| l["message"] == "request served" && l["route"] == "/v1/insureds")
        .unwrap_or_else(|| panic!("no access line: {logs}"));
    assert_eq!(access["tenant"], "demo");
    assert_eq!(access["status"], 200);
    assert_eq!(access["trace_id"].as_str().map(str::len), Some(32));
}
