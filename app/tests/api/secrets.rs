//! Configuration from secret stores at boot, through the real binary: AWS Secrets Manager
//! (moto's server) and Vault's KV v2 (an OpenBao dev server), each started by the test. What a
//! store holds wins over the environment; a store that is missing, unreadable or malformed
//! stops the start naming the secret and the key; no secret value is ever printed.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use serde_json::json;

use crate::{
    support::free_port,
    support::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY},
};

/// A value that must never be printed.
const SECRET: &str = "hunter2-never-printed";

/// `policy-service` with only `env` (and PATH, HOME), its data in `dir`, logging everything.
pub fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_policy-service"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .envs([
            ("DATA_DIR", dir.to_str().unwrap_or_default()),
            ("RUST_LOG", "debug"),
            ("DEMO_TENANT", "false"),
        ])
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("policy-service runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !printed.contains(SECRET),
        "a secret value was printed:\n{printed}"
    );
    output
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn landlord(dir: &Path, name: &str) -> bool {
    dir.join(format!("{name}.db")).exists()
}

/// The environment of a start that reads the secret `id` from moto's Secrets Manager.
fn moto_env<'a>(endpoint: &'a str, id: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("AWS_SECRETS_ID", id),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    ]
}

async fn put_secret(moto: &S3Server, id: &str, text: &str) {
    let config = aws_sdk_secretsmanager::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .endpoint_url(moto.endpoint())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
        .create_secret()
        .name(id)
        .secret_string(text)
        .send()
        .await
        .expect("create secret");
}

#[tokio::test]
async fn secrets_manager_configures_the_start_and_refuses_a_bad_secret() {
    let moto = S3Server::moto().await;
    let endpoint = moto.endpoint();
    let secret =
        json!({"LANDLORD_DATABASE": "from_secret", "GATEWAY_SECRET": SECRET, "PORT": 8181});
    put_secret(&moto, "insurance-app/production", &secret.to_string()).await;
    put_secret(
        &moto,
        "not-json",
        &format!("{{\"GATEWAY_SECRET\": \"{SECRET}\""),
    )
    .await;
    put_secret(
        &moto,
        "nested",
        &json!({"GATEWAY_SECRET": {"v": SECRET}}).to_string(),
    )
    .await;
    put_secret(&moto, "typo", &json!({"GATEWAY_SECRT": SECRET}).to_string()).await;
    let dir = tempfile::tempdir().expect("dir");
    let env = |id: &'static str| {
        let mut env = moto_env(&endpoint, id);
        env.push(("LANDLORD_DATABASE", "from_env"));
        env
    };

    let created = run(
        dir.path(),
        &env("insurance-app/production"),
        &["tenants", "create", "acme", "--name", "Acme"],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(
        landlord(dir.path(), "from_secret"),
        "the secret's value won"
    );
    assert!(!landlord(dir.path(), "from_env"));

    for (id, says) in [
        ("missing", "ResourceNotFoundException"),
        ("not-json", "is not JSON"),
        ("nested", "GATEWAY_SECRET must be a string"),
    ] {
        let refused = run(dir.path(), &env(id), &["tenants", "list"]);
        assert!(!refused.status.success(), "{id} was taken");
        let e = stderr(&refused);
        assert!(e.contains(id) && e.contains(says), "{id}: {e}");
    }

    // A key it does not read (a typo, or the seed's own) is left out with a warning naming it;
    // the start goes on with the rest.
    let typo = run(dir.path(), &env("typo"), &["tenants", "list"]);
    assert!(typo.status.success(), "{}", stderr(&typo));
    let e = stderr(&typo);
    assert!(
        e.contains("warning: AWS secret typo: GATEWAY_SECRT is not a variable"),
        "{e}"
    );
}

/// The seed's secret as its SecretsServiceProvider reads it: Laravel config keys, each set with
/// `config([$key => $value])`. The keys the service has a use for are read as the variables
/// Laravel fills them from (then composed, as `DB_*` and `REDIS_*` are); the rest are named in
/// a warning, never their values.
#[tokio::test]
async fn the_seeds_secret_with_laravel_config_keys_starts_it() {
    let moto = S3Server::moto().await;
    let endpoint = moto.endpoint();
    let seed = json!({
        "database.connections.mysql.database": "from_seed",
        "database.redis.default.host": "127.0.0.1",
        "database.redis.default.port": 6379,
        "queue.default": "redis",
        "services.stripe.secret": SECRET,
    });
    put_secret(&moto, "insurance-app/production", &seed.to_string()).await;
    put_secret(
        &moto,
        "no-redis",
        &json!({"queue.default": "redis"}).to_string(),
    )
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let env = |id: &'static str| moto_env(&endpoint, id);

    let out = run(
        dir.path(),
        &env("insurance-app/production"),
        &["tenants", "list"],
    );
    let e = stderr(&out);
    assert!(out.status.success(), "{e}");
    assert!(
        landlord(dir.path(), "from_seed"),
        "DB_DATABASE from database.connections.mysql.database"
    );
    assert!(
        e.contains("services.stripe.secret is not a variable policy-service reads"),
        "{e}"
    );
    assert!(!e.contains(SECRET), "a value on stderr: {e}");
    // queue.default is QUEUE_CONNECTION: `redis` with no Redis in the secret stops the start.
    let out = run(dir.path(), &env("no-redis"), &["tenants", "list"]);
    assert!(!out.status.success(), "a redis queue without a Redis");
    assert!(
        stderr(&out).contains("QUEUE_CONNECTION=redis, but there is no Redis"),
        "{}",
        stderr(&out)
    );
}

/// The OpenBao binary: `BAO`, else where scripts/test.sh installs it.
pub fn binary() -> PathBuf {
    std::env::var_os("BAO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/policy-service/venv/bin/bao")
        })
}

/// An OpenBao dev server on a free port, root token `root`, KV v2 at `secret/`.
pub struct Bao {
    pub addr: String,
    child: Child,
}

impl Bao {
    pub async fn start() -> Bao {
        let port = free_port();
        let child = Command::new(binary())
            .args(["server", "-dev", "-dev-root-token-id=root"])
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bao runs (scripts/test.sh installs it: ensure_openbao)");
        let bao = Bao {
            addr: format!("http://127.0.0.1:{port}"),
            child,
        };
        let until = Instant::now() + Duration::from_secs(20);
        let health = format!("{}/v1/sys/health", bao.addr);
        while !reqwest::get(&health).await.is_ok_and(|r| r.status() == 200) {
            assert!(Instant::now() < until, "OpenBao did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bao
    }

    /// Writes a KV v2 secret at `secret/{path}`.
    pub async fn put(&self, path: &str, data: serde_json::Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/secret/data/{path}", self.addr))
            .header("X-Vault-Token", "root")
            .json(&json!({"data": data}))
            .send()
            .await
            .expect("write");
        assert!(resp.status().is_success(), "{}", resp.status());
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[tokio::test]
async fn vault_kv_configures_the_start_and_a_refusal_stops_it() {
    let bao = Bao::start().await;
    bao.put(
        "policy-service",
        json!({"LANDLORD_DATABASE": "from_vault", "APP_KEY": SECRET}),
    )
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let env = |token: &'static str, path: &'static str| {
        vec![
            ("VAULT_ADDR", bao.addr.clone()),
            ("VAULT_TOKEN", token.to_owned()),
            ("VAULT_KV_PATH", path.to_owned()),
            ("LANDLORD_DATABASE", "from_env".to_owned()),
        ]
    };
    let call = |env: Vec<(&'static str, String)>, args: &[&str]| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(dir.path(), &env, args)
    };
    let created = call(
        env("root", "policy-service"),
        &["tenants", "create", "acme", "--name", "Acme"],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(landlord(dir.path(), "from_vault") && !landlord(dir.path(), "from_env"));

    for (token, path, says) in [
        ("wrong", "policy-service", "403"),
        ("root", "nowhere", "secret/nowhere"),
    ] {
        let refused = call(env(token, path), &["tenants", "list"]);
        assert!(!refused.status.success(), "{token} {path} was taken");
        let e = stderr(&refused);
        assert!(e.contains(says) && e.contains("Vault secret"), "{e}");
    }
}
