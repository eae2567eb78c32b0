//! `policy-service worker` as a process of its own, on a test app's databases and Redis, for
//! tests that kill it.

use std::process::{Child, Command, ExitStatus, Stdio};

use redis::AsyncCommands;

use crate::support::{TestApp, free_port, unique};

pub const REDIS: &str = "redis://127.0.0.1:6379";

/// Flags for an app whose jobs go to the machine's Redis under a prefix of its own (so tests
/// never share a queue); `QueuePrefix` deletes its keys when dropped.
pub struct QueuePrefix(pub String);

impl QueuePrefix {
    pub fn new() -> QueuePrefix {
        QueuePrefix(format!("pstest:{}:q:", unique()))
    }

    /// `REDIS_URL`, `--queue-prefix`, and quick backoffs for tests.
    pub fn flags(&self) -> Vec<String> {
        let redis = format!("REDIS_URL={REDIS}");
        [
            redis.as_str(),
            "--queue-prefix",
            &self.0,
            "--queue-backoff-ms",
            "20",
            "--worker-poll-ms",
            "100",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(REDIS)
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis")
    }
}

impl Drop for QueuePrefix {
    fn drop(&mut self) {
        let pattern = format!("{}*", self.0);
        let Ok(client) = redis::Client::open(REDIS) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query(&mut conn)
            .unwrap_or_default();
        for key in keys {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(key).query(&mut conn);
        }
    }
}

/// Reads a list's length (for waiting on a queue).
pub async fn llen(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> u64 {
    conn.llen(key).await.unwrap_or(0)
}

pub struct WorkerProcess {
    child: Child,
    port: u16,
}

impl TestApp {
    /// `policy-service worker` on this app's databases; `extra` are its flags (before the
    /// command) and secrets (`REDIS_URL=…`, into its environment).
    pub fn worker_process(&self, extra: &[String]) -> WorkerProcess {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let port = free_port();
        let mut cmd = self.process("worker", port, &extra);
        cmd.stdout(Stdio::null());
        WorkerProcess {
            child: cmd.spawn().expect("policy-service runs"),
            port,
        }
    }
}

impl WorkerProcess {
    /// SIGKILL: no chance to give anything back.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// Waits until it answers `/health/live` (it has started).
    pub async fn live(&self) {
        let url = format!("http://127.0.0.1:{}/health/live", self.port);
        crate::support::eventually("the worker's start", || async {
            reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    /// SIGTERM, and its exit.
    pub fn terminate(&mut self) -> ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        self.child.wait().expect("worker exits")
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
