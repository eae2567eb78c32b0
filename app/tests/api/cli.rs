//! The binary's commands, run as a operator would, against a test app's databases.

use std::process::Output;

use crate::{
    both_engines,
    support::{Engine, spawn_app, today, unique},
};

both_engines!(
    a_tenant_that_fails_to_register_leaves_no_database,
    provisioning_never_takes_over_an_existing_database,
    migrate_reports_each_broken_tenant_and_goes_on,
    tenants_commands_provision_and_suspend,
    listings_are_json_on_stdout_with_the_logs_on_stderr
);

/// The landlord refuses the new tenant's row after its database was made and migrated: the
/// database goes too, so a retry (once the cause is gone) succeeds instead of `database_exists`.
async fn a_tenant_that_fails_to_register_leaves_no_database(engine: Engine) {
    let app = spawn_app(engine).await;
    let slug = format!("orphan-{}", unique());
    let prefix = app.tenant_database_prefix();
    let database = format!("{prefix}{}", slug.replace('-', "_"));
    let landlord = app.state.tenancy.landlord().pool().clone();
    // Another row already claims the database name: the landlord's unique index refuses ours.
    sqlx::query(
        "INSERT INTO tenants (id, slug, name, database_name, status, created_at, updated_at) \
         VALUES ('blocker', 'blocker', 'Blocker', ?, 'suspended', 0, 0)",
    )
    .bind(&database)
    .execute(&landlord)
    .await
    .unwrap();
    let first = app.cli(&["tenants", "create", &slug, "--name", "Orphan"]);
    assert!(!first.status.success(), "{}", stdout(&first));
    sqlx::query("DELETE FROM tenants WHERE id = 'blocker'")
        .execute(&landlord)
        .await
        .unwrap();
    let retry = app.cli(&["tenants", "create", &slug, "--name", "Orphan"]);
    assert!(
        retry.status.success(),
        "the retry failed: {} {}",
        stdout(&retry),
        String::from_utf8_lossy(&retry.stderr)
    );
}

async fn listings_are_json_on_stdout_with_the_logs_on_stderr(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let args = [
        "--log-filter",
        "debug",
        "tenants",
        "list",
        "--output",
        "json",
    ];
    let out = app.cli(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let slugs: Vec<_> = listed
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| &t["slug"])
        .collect();
    assert!(slugs.contains(&&serde_json::json!(t.slug)), "{listed}");
    assert!(!out.stderr.is_empty(), "debug logs went to stderr");
    let stats = app.cli(&["queue", "stats", "--output", "json"]);
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("stdout is JSON");
    assert_eq!(stats["failed"], 0, "{stats}");
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

async fn migrate_reports_each_broken_tenant_and_goes_on(engine: Engine) {
    let app = spawn_app(engine).await;
    let good_a = app.tenant().await;
    let broken = app.tenant().await;
    let good_b = app.tenant().await;
    // A tampered migration history: sqlx refuses to go on with a modified migration.
    broken
        .execute("UPDATE _sqlx_migrations SET checksum = X'00'")
        .await;

    let out = app.cli(&["migrate"]);
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("migrated 2 tenant(s), 1 failed"), "{text}");
    assert!(text.contains(&format!("FAILED {}", broken.slug)), "{text}");
    for good in [&good_a, &good_b] {
        assert!(text.contains(&format!("ok      {}", good.slug)), "{text}");
    }

    let one = app.cli(&["migrate", "--tenant", &good_a.slug]);
    assert!(one.status.success(), "{}", stdout(&one));
    assert!(stdout(&one).contains("migrated 1 tenant(s), 0 failed"));
    let unknown = app.cli(&["migrate", "--tenant", "no-such-tenant"]);
    assert!(!unknown.status.success());
}

async fn tenants_commands_provision_and_suspend(engine: Engine) {
    let app = spawn_app(engine).await;
    let slug = format!("cli-{}", unique());
    let created = app.cli(&["tenants", "create", &slug, "--name", "CLI Insurance"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let tenant = app
        .state
        .tenancy
        .find(&slug)
        .await
        .unwrap()
        .expect("registered");
    assert!(stdout(&created).contains(tenant.database.as_str()));
    if engine == Engine::MariaDb {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
        )
        .bind(tenant.database.as_str())
        .fetch_one(app.state.tenancy.landlord().pool())
        .await
        .unwrap();
        assert_eq!(n, 1, "the tenant has a database of its own");
        let collation: String = sqlx::query_scalar(
            "SELECT CAST(default_collation_name AS CHAR) FROM information_schema.schemata WHERE schema_name = ?",
        )
        .bind(tenant.database.as_str())
        .fetch_one(app.state.tenancy.landlord().pool())
        .await
        .unwrap();
        assert_eq!(collation, "utf8mb4_unicode_ci");
    }
    let again = app.cli(&["tenants", "create", &slug, "--name", "Again"]);
    assert!(!again.status.success());
    let bad = app.cli(&["tenants", "create", "Bad Slug!", "--name", "x"]);
    assert!(!bad.status.success());

    // The flow works over HTTP for the tenant the CLI made.
    let t = app.client_for(&slug).await;
    let policy = t.active_policy().await;
    let id = policy["id"].as_str().unwrap();
    let pay = serde_json::json!({"policy_id": id, "amount_minor": 75_000, "currency": "EUR", "method": "bank_transfer"});
    t.post("/v1/payments", pay).await.ok(201);
    let claim = serde_json::json!({"policy_id": id, "incident_date": today().to_string(), "description": "Hail", "amount_claimed_minor": 5_000});
    t.post("/v1/claims", claim).await.ok(201);

    let suspended = app.cli(&["tenants", "suspend", &slug]);
    assert!(stdout(&suspended).contains("suspended"));
    let listed = stdout(&app.cli(&["tenants", "list"]));
    let row = listed
        .lines()
        .find(|l| l.starts_with(&slug))
        .expect("listed");
    assert!(row.contains("suspended"), "{listed}");
    assert!(stdout(&app.cli(&["tenants", "activate", &slug])).contains("active"));
    assert!(
        !app.cli(&["tenants", "suspend", "no-such-tenant"])
            .status
            .success()
    );
}

#[tokio::test]
async fn openapi_command_prints_the_committed_spec() {
    let app = spawn_app(Engine::Sqlite).await;
    let out = app.cli(&["openapi"]);
    assert!(out.status.success());
    assert!(
        stdout(&out) == include_str!("../../openapi.json"),
        "app/openapi.json is stale"
    );
}

async fn provisioning_never_takes_over_an_existing_database(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    t.insured().await;
    // A registration whose database already exists: here the registry row is gone but the
    // database is not (an operator's slip, or a restore). It must fail, and drop nothing.
    let tenancy = &app.state.tenancy;
    sqlx::query("DELETE FROM tenants WHERE slug = ?")
        .bind(&t.slug)
        .execute(tenancy.landlord().pool())
        .await
        .unwrap();
    let out = app.cli(&["tenants", "create", &t.slug, "--name", "Again"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The existing data is untouched.
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM insureds")
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_landlord_named_like_a_tenant_is_refused() {
    let app = spawn_app(Engine::Sqlite).await;
    let out = app.cli(&["--landlord-database", "tenant_registry", "tenants", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TENANT_DATABASE_PREFIX"));
}

/// A start with a backend switched on but unusable stops at once, naming the setting at fault.
#[tokio::test]
async fn a_bad_backend_setting_stops_the_start_with_its_name() {
    let app = spawn_app(Engine::Sqlite).await;
    let cases: [(&[&str], &str); 2] = [
        (&["--event-publisher", "kafka", "serve"], "KAFKA_BROKERS"),
        (&["REDIS_URL=notaurl://x", "serve"], "REDIS_URL"),
    ];
    for (args, named) in cases {
        let out = app.cli(args);
        assert!(!out.status.success(), "{args:?} started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

/// Secrets are never flags: from the environment, or from the file `<NAME>_FILE` names.
#[tokio::test]
async fn a_secret_comes_from_the_environment_or_a_file_never_a_flag() {
    let app = spawn_app(Engine::Sqlite).await;
    let as_flag = app.cli(&["--redis-url", "redis://127.0.0.1:6379", "serve"]);
    assert_eq!(as_flag.status.code(), Some(2), "a secret given as a flag");
    // The file's content is read: a bad URL in it stops the start as the variable's would.
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), "notaurl://x\n").expect("write");
    let from_file = format!("REDIS_URL_FILE={}", file.path().display());
    let out = app.cli(&[&from_file, "serve"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("REDIS_URL"),
        "{stderr}"
    );
    let missing = app.cli(&["REDIS_URL_FILE=/no/such/file", "serve"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("REDIS_URL_FILE: cannot read /no/such/file"),
        "{stderr}"
    );
}

/// The seed's own environment starts the service: Laravel's APP_ENV values, and its queue and
/// broadcast drivers checked against what there is (the URL compositions: `config::laravel`).
#[tokio::test]
async fn the_seeds_laravel_environment_starts_it() {
    let app = spawn_app(Engine::Sqlite).await;
    for env in ["APP_ENV=staging", "APP_ENV=local", "QUEUE_CONNECTION=sync"] {
        let out = app.cli(&[env, "tenants", "list"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{env}: {stderr}");
    }
    let out = app.cli(&["QUEUE_CONNECTION=redis", "tenants", "list"]);
    assert!(
        !out.status.success(),
        "a redis queue without a Redis was taken"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("QUEUE_CONNECTION=redis, but there is no Redis"),
        "{stderr}"
    );
}
