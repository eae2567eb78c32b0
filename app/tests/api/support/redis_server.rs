//! Redis servers a test starts on free loopback ports and stops by PID: one to kill and restart,
//! or a three-node Redis Cluster. The machine's Redis (6379) is shared by every test, so nothing
//! that breaks a server is done to it.

use std::{
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use tempfile::TempDir;

use crate::support::{PATIENCE, free_port};

pub struct RedisServer {
    pub port: u16,
    extra: Vec<String>,
    child: Option<Child>,
    dir: TempDir,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        RedisServer::on(free_port(), &[]).await
    }

    /// A server on `port` with more `redis-server` arguments.
    pub async fn on(port: u16, extra: &[&str]) -> RedisServer {
        let mut server = RedisServer {
            port,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            child: None,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        server.run().await;
        server
    }

    async fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test.sh installs it)");
        self.child = Some(child);
        // Each poll spawns a `redis-cli`: not too often, on a machine that is busy already.
        let until = Instant::now() + PATIENCE;
        while !self.cli(&["PING"]).stdout.starts_with(b"PONG") {
            assert!(
                Instant::now() < until,
                "redis-server on {} did not start within {PATIENCE:?}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `redis-cli` against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs")
    }

    /// Kills it (SIGKILL, by PID): no goodbye to its clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        self.kill();
        self.run().await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A three-node Redis Cluster, all masters.
pub struct Cluster {
    pub nodes: Vec<RedisServer>,
}

impl Cluster {
    pub async fn start() -> Cluster {
        Cluster::start_with(|_| Vec::new(), &[]).await
    }

    /// A cluster whose nodes are also TLS servers (`tls`: each node's `redis-server` arguments
    /// from its index) and whose `redis-cli --cluster create` takes `cli` (its TLS options);
    /// each node is named to the cluster by its TLS port when it has one.
    async fn start_with(tls: impl Fn(usize) -> Vec<String>, cli: &[String]) -> Cluster {
        let mut nodes = Vec::new();
        let mut addresses = Vec::new();
        for i in 0..3 {
            let mut args = vec![
                "--cluster-enabled".to_owned(),
                "yes".into(),
                "--cluster-node-timeout".into(),
                "5000".into(),
            ];
            let extra = tls(i);
            let tls_port = extra
                .iter()
                .position(|a| a == "--tls-port")
                .and_then(|p| extra.get(p + 1).cloned());
            args.extend(extra);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let node = RedisServer::on(free_port(), &args).await;
            addresses.push(format!(
                "127.0.0.1:{}",
                tls_port.unwrap_or_else(|| node.port.to_string())
            ));
            nodes.push(node);
        }
        let created = Command::new("redis-cli")
            .args(cli)
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli runs");
        assert!(
            created.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let until = Instant::now() + PATIENCE;
        for node in &nodes {
            loop {
                let info = node.cli(&["CLUSTER", "INFO"]);
                if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < until,
                    "the cluster did not become ok within {PATIENCE:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Cluster { nodes }
    }

    /// A cluster over TLS (the cluster bus and replication too), each node's certificate for
    /// `localhost` and `127.0.0.1` signed by `dir`'s `ca.pem`; its TLS ports.
    pub async fn start_tls(dir: &std::path::Path) -> (Cluster, Vec<u16>) {
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let tls = |i: usize| {
            let mut args = tls_args(dir, ports[i]);
            args.extend(["--tls-cluster", "yes", "--tls-replication", "yes"].map(str::to_owned));
            args
        };
        let ca = dir.join("ca.pem").display().to_string();
        let cli = ["--tls".to_owned(), "--cacert".into(), ca];
        (Cluster::start_with(tls, &cli).await, ports)
    }

    /// `REDIS_URL` for it: every node, comma-separated.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(RedisServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `redis-server` arguments for TLS on `tls_port` with `dir`'s `server.pem`, `server.key` and
/// `ca.pem` (`certs`), clients not asked for a certificate.
pub fn tls_args(dir: &std::path::Path, tls_port: u16) -> Vec<String> {
    let file = |name: &str| dir.join(name).display().to_string();
    vec![
        "--tls-port".to_owned(),
        tls_port.to_string(),
        "--tls-cert-file".into(),
        file("server.pem"),
        "--tls-key-file".into(),
        file("server.key"),
        "--tls-ca-cert-file".into(),
        file("ca.pem"),
        "--tls-auth-clients".into(),
        "no".into(),
    ]
}
