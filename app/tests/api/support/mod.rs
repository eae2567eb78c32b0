//! Test harness: each test gets its own application on port 0 and its own databases.
//!
//! SQLite: a temporary folder. MariaDB (the machine's, over TCP): a landlord and tenant
//! databases named `pstest_<random>_…`, dropped when the `TestApp` is dropped (even when the
//! test panics; `scripts/test.sh` sweeps what a killed run leaves). Tenants are created with
//! unique slugs, so tests run in parallel and repeatably.

pub mod certs;
mod client;
pub mod fault_proxy;
pub mod kafka_broker;
pub mod mariadb_server;
pub mod measure;
pub mod partner;
pub mod receivers;
pub mod redis_server;
pub mod replica;
pub mod s3_server;
pub mod tls_front;
pub mod worker;

pub use client::{Resp, TenantClient, post_raw, quote_body, rejected, today};

use std::sync::Arc;

use policy_service::{
    cli::Cli, platform::error::Result, platform::tenancy::TenantSlug, startup::Application,
    state::AppState,
};
use sqlx::{AnyConnection, Connection};
use tempfile::TempDir;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    MariaDb,
}

/// Runs a test body once per engine: `both_engines!(name, …)` wants `async fn name(Engine)`.
#[macro_export]
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::support::Engine::Sqlite).await
            }
            #[tokio::test]
            async fn mariadb() {
                super::$name($crate::support::Engine::MariaDb).await
            }
        }
    )*};
}

/// How long a test waits for what happens in the background before it fails. Generous: a busy
/// CI machine (another process holding a core) must not fail a test that passes on a quiet one;
/// speed is for the benchmarks to measure.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// The Redis call timeout the tests' services use (the default is 250 ms): tests count loads,
/// statements and stale reads, which one call timed out by a busy machine (not by Redis) would
/// change. The breaker still opens at once on a Redis that refuses connections.
pub const PATIENT_REDIS_MS: &str = "2000";

/// Asks `check` every 50 ms until it holds, for at most `PATIENCE`; fails naming `what`. The
/// one way a test waits on what happens in the background: never a fixed sleep.
pub async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    check: impl FnMut() -> F,
) {
    eventually_within(what, PATIENCE, check).await
}

/// `eventually`, for at most `within` (longer than `PATIENCE`, for a long drain).
pub async fn eventually_within<F: std::future::Future<Output = bool>>(
    what: &str,
    within: std::time::Duration,
    mut check: impl FnMut() -> F,
) {
    let until = std::time::Instant::now() + within;
    while !check().await {
        assert!(
            std::time::Instant::now() < until,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits until `address` says it is ready (a 503 on the way, or no answer yet, is asked again).
pub async fn ready(http: &reqwest::Client, address: &str) {
    let url = format!("{address}/health/ready");
    eventually(&format!("{address} ready"), || async {
        http.get(&url).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
}

pub fn mysql_url() -> String {
    std::env::var("TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

pub fn unique() -> String {
    let s = uuid::Uuid::now_v7().simple().to_string();
    s[s.len() - 12..].to_owned()
}

pub struct TestApp {
    pub address: String,
    /// Where `/metrics` is: `address` unless `--metrics-port` was given.
    pub metrics_address: String,
    pub state: Arc<AppState>,
    /// Environment that points a `policy-service` process at this app's databases.
    pub env: Vec<(&'static str, String)>,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    mysql_prefix: Option<String>,
    dir: TempDir,
}

pub async fn spawn_app(engine: Engine) -> TestApp {
    spawn_with(engine, &[]).await
}

/// The environment a test app (or a CLI run beside it) uses for its databases.
pub fn database_env(
    engine: Engine,
    dir: &TempDir,
) -> (Vec<(&'static str, String)>, Option<String>) {
    let id = unique();
    let mut env = vec![
        ("DATA_DIR", dir.path().display().to_string()),
        ("DEMO_TENANT", "false".to_owned()),
        ("APP_ENV", "development".to_owned()),
    ];
    match engine {
        Engine::Sqlite => {
            env.push(("LANDLORD_DATABASE", "landlord".into()));
            env.push(("TENANT_DATABASE_PREFIX", "tenant_".into()));
            (env, None)
        }
        Engine::MariaDb => {
            let prefix = format!("pstest_{id}_");
            env.push(("DATABASE_URL", mysql_url()));
            env.push(("LANDLORD_DATABASE", format!("{prefix}landlord")));
            env.push(("TENANT_DATABASE_PREFIX", format!("{prefix}t_")));
            (env, Some(prefix))
        }
    }
}

/// `extra` as flags and secrets. Secrets are never flags: a test writes one `NAME=value`
/// (`REDIS_URL=redis://…`), as in the environment.
pub fn split_secrets<'a>(extra: &[&'a str]) -> (Vec<&'a str>, Vec<(String, String)>) {
    let mut flags = Vec::new();
    let mut secrets = Vec::new();
    for item in extra {
        match item.split_once('=') {
            Some((name, value))
                if !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') =>
            {
                secrets.push((name.to_owned(), value.to_owned()));
            }
            _ => flags.push(*item),
        }
    }
    (flags, secrets)
}

/// The command line of a test app on `env` (its databases, as flags) with `extra` flags; its
/// secrets are `secrets_of`'s.
fn args_from(env: &[(&'static str, String)], extra: &[&str]) -> Vec<String> {
    let (extra, secrets) = split_secrets(extra);
    let flag = |name: &str| match name {
        "DATA_DIR" => "--data-dir",
        "DEMO_TENANT" => "--demo-tenant",
        "APP_ENV" => "--app-env",
        "LANDLORD_DATABASE" => "--landlord-database",
        "TENANT_DATABASE_PREFIX" => "--tenant-database-prefix",
        other => panic!("no flag for {other}"),
    };
    let mut args = vec![
        "policy-service".to_owned(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        "0".into(),
    ];
    // A flag in `extra` overrides the default given here (`--app-env production`, say).
    let settings = env.iter().filter(|(name, _)| *name != "DATABASE_URL");
    for (name, value) in settings.filter(|(name, _)| !extra.contains(&flag(name))) {
        args.push(flag(name).to_owned());
        args.push(value.clone());
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    // Jobs of an app on a shared Redis stay in queues of its own (scripts/test.sh sweeps
    // `pstest:*` keys a killed run leaves).
    if secrets.iter().any(|(k, _)| k == "REDIS_URL") && !extra.contains(&"--queue-prefix") {
        args.push("--queue-prefix".into());
        args.push(format!("pstest:{}:q:", unique()));
    }
    if !extra.contains(&"--redis-timeout-ms") {
        args.push("--redis-timeout-ms".into());
        args.push(PATIENT_REDIS_MS.into());
    }
    args.push("serve".into());
    args
}

/// The secrets of a test app on `env` with `extra`: its DATABASE_URL, and those `extra` gives.
fn secrets_of(env: &[(&'static str, String)], extra: &[&str]) -> Vec<(String, String)> {
    // `extra`'s first: a test's own DATABASE_URL (through a proxy, say) wins.
    let mut secrets = split_secrets(extra).1;
    let database = env.iter().filter(|(name, _)| *name == "DATABASE_URL");
    secrets.extend(database.map(|(k, v)| ((*k).to_owned(), v.clone())));
    secrets
}

/// Builds and serves the app; `extra` are more command-line flags (e.g. `--redis-prefix`), which
/// override the defaults (`--app-env`), and secrets, `NAME=value` (e.g. `REDIS_URL=…`).
pub async fn spawn_with(engine: Engine, extra: &[&str]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (env, mysql_prefix) = database_env(engine, &dir);
    serve(env, extra, mysql_prefix, dir).await
}

/// Builds the app as `spawn_with` does, without serving it: for a start that must fail. The
/// folder holds its SQLite files, if any.
pub async fn build_with(engine: Engine, extra: &[&str]) -> (Result<Application>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (env, _) = database_env(engine, &dir);
    (build(&env, extra).await, dir)
}

async fn build(env: &[(&'static str, String)], extra: &[&str]) -> Result<Application> {
    let secrets = secrets_of(env, extra);
    let lookup = move |name: &str| {
        secrets
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let cli = Cli::try_parse_args_with(args_from(env, extra), &lookup)
        .expect("test configuration parses");
    Application::build(cli.config).await
}

async fn serve(
    env: Vec<(&'static str, String)>,
    extra: &[&str],
    mysql_prefix: Option<String>,
    dir: TempDir,
) -> TestApp {
    let app = build(&env, extra).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = format!("http://127.0.0.1:{}", app.metrics_port());
    let state = app.state();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(app.run_until(async {
        rx.await.ok();
    }));
    TestApp {
        address,
        metrics_address,
        state,
        env,
        http: reqwest::Client::new(),
        shutdown: Some(tx),
        mysql_prefix,
        dir,
    }
}

impl TestApp {
    /// A second replica of this app: the same databases, its own process state (pools, L1
    /// cache), with its own flags (`extra`: the same Redis, say). It leaves the databases to
    /// `self` to drop.
    pub async fn replica(&self, extra: &[&str]) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        serve(self.env.clone(), extra, None, dir).await
    }

    /// A new tenant with a unique slug, and a client that calls as its Kong consumer.
    pub async fn tenant(&self) -> TenantClient {
        let slug = format!("t-{}", unique());
        let tenant = self
            .state
            .tenancy
            .create(&TenantSlug::parse(&slug).expect("slug"), "Test Insurance")
            .await
            .expect("tenant is created");
        let db = self
            .state
            .tenancy
            .one_off_db(&tenant)
            .expect("tenant database");
        TenantClient {
            slug,
            base: self.address.clone(),
            http: self.http.clone(),
            db,
        }
    }

    /// The prefix of this app's tenant database names.
    pub fn tenant_database_prefix(&self) -> String {
        self.env
            .iter()
            .find(|(k, _)| *k == "TENANT_DATABASE_PREFIX")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Waits until the jobs this process queued are done (search updates, event relays),
    /// asserting they were within `PATIENCE`.
    pub async fn settle(&self) {
        let done = self.state.jobs.settled(PATIENCE).await;
        assert!(done, "jobs still waiting after {PATIENCE:?}");
    }

    /// Statements the service has run on the tenant's pool (0 while it is not open), once the
    /// events of earlier changes are relayed (the relay borrows the pool too).
    pub async fn statements(&self, slug: &str) -> u64 {
        self.settle().await;
        let tenant = self.state.tenancy.resolve(slug).await.ok().flatten();
        tenant
            .and_then(|t| self.state.tenancy.open_db(&t))
            .map_or(0, |db| db.statements())
    }

    /// A client for a tenant made elsewhere (e.g. by the CLI).
    pub async fn client_for(&self, slug: &str) -> TenantClient {
        let tenant = self
            .state
            .tenancy
            .resolve(slug)
            .await
            .expect("landlord")
            .expect("tenant exists");
        let db = self
            .state
            .tenancy
            .one_off_db(&tenant)
            .expect("tenant database");
        TenantClient {
            slug: slug.to_owned(),
            base: self.address.clone(),
            http: self.http.clone(),
            db,
        }
    }

    /// `policy-service <command>` on this app's databases, listening on `port`, as a process of
    /// its own: `extra` are its flags and secrets (`NAME=value`, into its environment); the
    /// test's own DATABASE_URL and REDIS_URL never leak in.
    pub fn process(&self, command: &str, port: u16, extra: &[&str]) -> std::process::Command {
        let (flags, secrets) = split_secrets(extra);
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_policy-service"));
        cmd.env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env("RUST_LOG", "warn")
            .env("REDIS_TIMEOUT_MS", PATIENT_REDIS_MS)
            .envs(self.env.iter().map(|(k, v)| (*k, v)))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(flags)
            .envs(secrets)
            .arg(command);
        cmd
    }

    /// Runs the `policy-service` binary against this app's databases; `args` are its arguments
    /// and secrets (`REDIS_URL=…`, into its environment).
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let (args, secrets) = split_secrets(args);
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_policy-service"));
        // Its own folder, so no developer `.env` up the tree is read.
        cmd.current_dir(self.dir.path())
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env("RUST_LOG", "warn");
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        cmd.envs(secrets);
        cmd.output().expect("policy-service runs")
    }

    pub async fn get(&self, path: &str) -> Resp {
        Resp::from(
            self.http
                .get(format!("{}{path}", self.address))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// Stops serving (as on SIGTERM) and waits a moment for the server to wind down.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
        let Some(prefix) = self.mysql_prefix.take() else {
            return;
        };
        // Drop runs outside any runtime we may block, so clean up on a thread of its own.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(drop_databases(&prefix));
        })
        .join()
        .ok();
    }
}

pub async fn drop_databases(prefix: &str) {
    sqlx::any::install_default_drivers();
    let Ok(mut conn) = AnyConnection::connect(&format!("{}/", mysql_url())).await else {
        return;
    };
    let like = format!("{}%", prefix.replace('_', "\\_"));
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE ?")
            .bind(like)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    for (name,) in names {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS `{name}`"
        )))
        .execute(&mut conn)
        .await
        .ok();
    }
}

/// A loopback port free now, and its Redis Cluster bus port (+10000) too.
pub fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}
