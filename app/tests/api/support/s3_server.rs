//! S3-compatible servers a test starts on a free loopback port and stops by PID:
//! - moto's server, which behaves like S3 where the documents care (storage classes, SSE,
//!   metadata, GLACIER's InvalidObjectState and RestoreObject) but checks no signature;
//! - s3s-fs, which checks every SigV4 signature and a presigned URL's expiry, but keeps no
//!   storage class.
//!
//! `scripts/test.sh` installs both (MOTO_SERVER, S3S_FS); the defaults are where it puts them.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use tempfile::TempDir;

use crate::support::free_port;

/// The credentials every test server takes and every test app signs with.
pub const ACCESS_KEY: &str = "policy-service-test";
pub const SECRET_KEY: &str = "policy-service-test-secret";
pub const PRIVATE: &str = "documents-private";
pub const PUBLIC: &str = "documents-public";

pub struct S3Server {
    pub port: u16,
    child: Child,
    _dir: TempDir,
}

fn tool(var: &str, installed: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        home.join(".cache/policy-service").join(installed)
    })
}

impl S3Server {
    pub async fn moto() -> S3Server {
        S3Server::moto_on(free_port()).await
    }

    /// A moto server on `port` (a new one where a killed one was).
    pub async fn moto_on(port: u16) -> S3Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new(tool("MOTO_SERVER", "venv/bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server runs (scripts/test.sh installs it: ensure_moto)");
        let server = S3Server::ready(port, child, dir).await;
        // Public the way the README says to make it: a bucket policy, no object ACLs.
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": format!("arn:aws:s3:::{PUBLIC}/*")}]
        });
        server
            .client()
            .put_bucket_policy()
            .bucket(PUBLIC)
            .policy(policy.to_string())
            .send()
            .await
            .expect("public bucket policy");
        server
    }

    pub async fn s3s_fs() -> S3Server {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new(tool("S3S_FS", "s3s/bin/s3s-fs"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs runs (scripts/test.sh installs it: ensure_s3s_fs)");
        S3Server::ready(port, child, dir).await
    }

    /// Waits for it to answer, then makes the two buckets.
    async fn ready(port: u16, child: Child, dir: TempDir) -> S3Server {
        let server = S3Server {
            port,
            child,
            _dir: dir,
        };
        let client = server.client();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            match client.create_bucket().bucket(PRIVATE).send().await {
                Ok(_) => break,
                Err(e) => assert!(
                    Instant::now() < until,
                    "the S3 server on {port} did not start: {e:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        client
            .create_bucket()
            .bucket(PUBLIC)
            .send()
            .await
            .expect("public bucket");
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client of its own, to look at what the service stored.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .endpoint_url(self.endpoint())
            .force_path_style(true)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// The flags that point an app at this server, with the credentials in the environment
    /// (the standard AWS chain reads them there).
    pub fn flags(&self) -> Vec<String> {
        // SAFETY: every test sets the same two values, before the app it starts reads them.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
            std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        }
        [
            "--filesystem-disk",
            "s3",
            "--aws-bucket",
            PRIVATE,
            "--aws-public-bucket",
            PUBLIC,
            "--aws-endpoint",
            &self.endpoint(),
            "--aws-use-path-style-endpoint",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// Every key in `bucket`.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let listed = self
            .client()
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .expect("list objects");
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    /// Stops it (SIGKILL, by PID).
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}
