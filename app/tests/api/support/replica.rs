//! Replicas as processes of their own: `policy-service serve` on a test app's databases, as in
//! production (its own runtime and threads), for tests whose outcome depends on how replicas
//! are scheduled (stale reads across replicas).

use tempfile::TempDir;

use crate::support::{TenantClient, TestApp, free_port};

/// `policy-service serve` in a process of its own, on an app's databases: a replica as in
/// production, with its own runtime and threads. Killed when dropped.
pub struct Replica {
    pub address: String,
    child: std::process::Child,
    _dir: TempDir,
}

impl TestApp {
    /// A replica process of this app; `extra` are its flags and secrets (`REDIS_URL=…`).
    pub async fn replica_process(&self, extra: &[&str]) -> Replica {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut cmd = self.process("serve", port, extra);
        cmd.current_dir(dir.path())
            .stdout(std::process::Stdio::null());
        let replica = Replica {
            address: format!("http://127.0.0.1:{port}"),
            child: cmd.spawn().expect("policy-service runs"),
            _dir: dir,
        };
        crate::support::ready(&self.http, &replica.address).await;
        replica
    }
}

impl Replica {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, as Kubernetes stops a pod.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -TERM");
    }

    /// Waits up to `within` for the process to exit; its status, if it did.
    pub async fn exited(
        &mut self,
        within: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + within;
        while std::time::Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        None
    }

    /// `t`, calling this replica instead.
    pub fn client(&self, t: &TenantClient) -> TenantClient {
        TenantClient {
            base: self.address.clone(),
            ..t.clone()
        }
    }

    /// The value of a metric series on its `/metrics` (0 if absent).
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.address))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)?
                    .trim()
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
