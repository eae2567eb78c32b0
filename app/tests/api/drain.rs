//! R4: SIGTERM under load. A `serve` process takes writes from 16 clients; it is sent SIGTERM
//! and the clients keep sending into the drain, as a load balancer does until it sees readiness
//! fail. Every request sent before the clients stop must succeed, and the process must exit
//! cleanly within its grace.

use std::{
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use serde_json::json;

use crate::support::{Engine, TenantClient, eventually, free_port, spawn_app, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_sigterm_under_load_fails_no_request_in_flight() {
    let app = spawn_app(Engine::MariaDb).await;
    let t = app.tenant().await;
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_policy-service"))
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("RUST_LOG", "warn")
        .envs(app.env.iter().map(|(k, v)| (*k, v)))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--shutdown-drain-secs", "10", "--shutdown-grace-secs", "10"])
        .arg("serve")
        .stdout(Stdio::null())
        .spawn()
        .expect("policy-service runs");
    let base = format!("http://127.0.0.1:{port}");
    let ready = format!("{base}/health/ready");
    eventually("serve ready", || async {
        reqwest::get(&ready).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    let client = Arc::new(TenantClient {
        slug: t.slug.clone(),
        base: base.clone(),
        http: reqwest::Client::new(),
        db: t.db.clone(),
    });
    let (stop, ok, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicU32::new(0)),
    );
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (client, stop, ok, failed) =
                (client.clone(), stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let email = format!("{}@example.com", unique());
                    let body = json!({"full_name": "Drain Load", "email": email});
                    let sent = client
                        .request(reqwest::Method::POST, "/v1/insureds")
                        .json(&body)
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 201 => ok.fetch_add(1, Ordering::SeqCst),
                        other => {
                            eprintln!("failed: {other:?}");
                            failed.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = ok.load(Ordering::SeqCst);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    // The balancer's lag: it keeps sending for 1.5 s of the 10 s drain. The rest is margin: on a
    // busy machine a request sent just before the clients stop may take seconds to be served,
    // and it must still land before the listener closes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.ok();
    }
    let exit = tokio::task::spawn_blocking(move || child.wait()).await;
    let exit = exit.expect("join").expect("serve exits");
    let (served, failures) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    println!(
        "R4: {served} writes served ({} after SIGTERM, during the drain), {failures} failed; {exit}",
        served - before
    );
    assert_eq!(failures, 0, "requests failed around SIGTERM");
    assert!(served > before, "nothing was served during the drain");
    assert!(exit.success(), "serve did not exit cleanly: {exit}");
}
