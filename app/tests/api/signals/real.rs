//! What we emit, checked by the real tools: promtool lints the exposition, a real Prometheus
//! scrapes it (in OpenMetrics, which it asks for, exemplars included), and a real OpenTelemetry
//! collector (rotel) receives the traces those exemplars point to. `scripts/test.sh` installs
//! all three; their paths can be given with PROMETHEUS, PROMTOOL and ROTEL_AGENT.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    signals::{install_with, scrape},
    support::receivers,
    support::{Engine, PATIENCE, spawn_with, today},
};

/// A server process of the test's own, killed when the test ends however it ends.
pub(super) struct Server(Child);

impl Server {
    /// Fails the test at once if the server died (a port taken between our probe and its
    /// bind, say) instead of waiting out a deadline for it.
    fn assert_running(&mut self, log: &Path) {
        if let Ok(Some(status)) = self.0.try_wait() {
            let printed = std::fs::read_to_string(log).unwrap_or_default();
            panic!("server exited ({status}):\n{printed}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn start(program: &Path, args: &[&str], log: &Path) -> Server {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    Server(child)
}

/// A tool from its variable, else from PATH.
fn tool(variable: &str, name: &str) -> PathBuf {
    if let Ok(path) = std::env::var(variable) {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{name} not found (set {variable}); scripts/test.sh installs it"))
}

/// rotel ships its collector inside its Python package.
fn rotel_agent() -> PathBuf {
    if let Ok(path) = std::env::var("ROTEL_AGENT") {
        return PathBuf::from(path);
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import rotel, os; print(os.path.dirname(rotel.__file__))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the rotel package is missing (pip install rotel; scripts/test.sh does it)"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("rotel-agent")
}

/// A real collector (rotel) on free loopback ports, printing the spans it receives to the
/// log file returned; returns it with its OTLP/HTTP port.
pub(super) async fn collector(dir: &Path) -> (Server, u16, PathBuf) {
    let (grpc_port, otlp_port) = (free_port(), free_port());
    let rotel_log = dir.join("rotel.out");
    let pid = dir.join("rotel.pid");
    let agent_log = dir.join("rotel-agent.log");
    let mut rotel = start(
        &rotel_agent(),
        &[
            "start",
            "--otlp-grpc-endpoint",
            &format!("127.0.0.1:{grpc_port}"),
            "--otlp-http-endpoint",
            &format!("127.0.0.1:{otlp_port}"),
            "--exporter",
            "blackhole",
            "--debug-log",
            "traces",
            "--debug-log-verbosity",
            "detailed",
            "--pid-file",
            &pid.display().to_string(),
            "--log-file",
            &agent_log.display().to_string(),
        ],
        &rotel_log,
    );
    until("rotel listens", async || {
        rotel.assert_running(&rotel_log);
        tokio::net::TcpStream::connect(("127.0.0.1", otlp_port))
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    (rotel, otlp_port, rotel_log)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Tries `attempt` every 250 ms until it succeeds, for at most `PATIENCE` (the tools start and
/// catch up slowly on a busy machine); fails naming `what` and the last error.
pub(super) async fn until<T>(what: &str, mut attempt: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match attempt().await {
            Ok(v) => return v,
            Err(last) if Instant::now() > deadline => panic!("{what}: {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let resp = http.get(url).send().await.map_err(|e| e.to_string())?;
    resp.json().await.map_err(|e| e.to_string())
}

fn promtool_check(promtool: &Path, text: &str) {
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("exposition written to promtool");
    let out = check.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_prometheus_and_a_real_collector_accept_what_we_emit() {
    let (prometheus_bin, promtool) = (
        tool("PROMETHEUS", "prometheus"),
        tool("PROMTOOL", "promtool"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::new();

    let (_rotel, otlp_port, rotel_log) = collector(dir.path()).await;

    let loki = receivers::start(receivers::Received::default()).await;
    let telemetry = install_with(&loki, &format!("http://127.0.0.1:{otlp_port}"), 100);
    let app = spawn_with(
        Engine::Sqlite,
        &["--metrics-port", "0", "--metrics-status-refresh-ms", "50"],
    )
    .await;
    let t = app.tenant().await;
    let policy = t.active_policy().await;
    let id = policy["id"].as_str().expect("policy id");
    t.post(
        "/v1/payments",
        json!({"policy_id": id, "amount_minor": 12_000, "currency": "EUR", "method": "card"}),
    )
    .await
    .ok(201);
    t.post(
        "/v1/claims",
        json!({"policy_id": id, "incident_date": today().to_string(), "description": "Hail", "amount_claimed_minor": 500}),
    )
    .await
    .ok(201);

    promtool_check(&promtool, &scrape(&app).await);

    let target = app.metrics_address.trim_start_matches("http://").to_owned();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: policy-service\n    \
             static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("prometheus config");
    let prom_port = free_port();
    let prom = format!("http://127.0.0.1:{prom_port}");
    let prometheus_log = dir.path().join("prometheus.log");
    let mut prometheus = start(
        &prometheus_bin,
        &[
            &format!("--config.file={}", config.display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
            &format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            "--enable-feature=exemplar-storage",
        ],
        &prometheus_log,
    );

    until("Prometheus scrapes the service", async || {
        prometheus.assert_running(&prometheus_log);
        let targets = get_json(&http, &format!("{prom}/api/v1/targets")).await?;
        let target = &targets["data"]["activeTargets"][0];
        match target["health"].as_str() {
            Some("up") => Ok(()),
            _ => Err(format!("target: {target}")),
        }
    })
    .await;
    let query = format!(
        "{prom}/api/v1/query?query=policies_bound_total{{tenant=\"{}\"}}",
        t.slug
    );
    until("Prometheus holds the business counter", async || {
        let answer = get_json(&http, &query).await?;
        match answer["data"]["result"][0]["value"][1].as_str() {
            Some("1") => Ok(()),
            _ => Err(format!("{answer}")),
        }
    })
    .await;

    let now = chrono::Utc::now().timestamp();
    let exemplars_query = format!(
        "{prom}/api/v1/query_exemplars?query=http_server_request_duration_seconds_bucket&start={}&end={}",
        now - 600,
        now + 600
    );
    let exemplar_ids: Vec<String> = until("Prometheus stores exemplars", async || {
        let answer = get_json(&http, &exemplars_query).await?;
        let ids: Vec<String> = answer["data"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_owned))
            .collect();
        if ids.is_empty() {
            Err(format!("no exemplars yet: {answer}"))
        } else {
            Ok(ids)
        }
    })
    .await;

    telemetry.shutdown(PATIENCE).await;
    until("rotel received a trace an exemplar points to", async || {
        let seen = std::fs::read_to_string(&rotel_log).map_err(|e| e.to_string())?;
        if exemplar_ids
            .iter()
            .any(|id| seen.contains(&format!("Trace ID       : {id}")))
        {
            Ok(())
        } else {
            Err(format!(
                "exemplars {exemplar_ids:?}; rotel printed {} bytes",
                seen.len()
            ))
        }
    })
    .await;
}
