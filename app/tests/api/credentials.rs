//! Dynamic per-tenant database credentials from a real OpenBao dev server whose database engine
//! issues real MariaDB users: a tenant's requests run as its lease's user; a lease of seconds is
//! renewed, then rotated at its max TTL, under steady load with no failed request;
//! a revoked lease is replaced and the requests go on.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{
    secrets::Bao,
    support::{Engine, PATIENCE, TenantClient, eventually, mysql_url, spawn_app, unique},
};

impl Bao {
    /// Enables the database engine with a role for `database` whose leases last `ttl` seconds,
    /// `max_ttl` at most: `database/creds/tenant-{slug}`.
    async fn tenant_role(&self, slug: &str, database: &str, ttl: u32, max_ttl: u32) {
        let url = url::Url::parse(&mysql_url()).expect("TEST_MYSQL_URL");
        let host = format!(
            "{}:{}",
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(3306)
        );
        let name = format!("tenant-{slug}");
        for (path, body) in [
            (
                "sys/mounts/database".to_owned(),
                json!({"type": "database"}),
            ),
            (
                format!("database/config/{name}"),
                json!({
                    "plugin_name": "mysql-database-plugin",
                    "connection_url": format!("{{{{username}}}}:{{{{password}}}}@tcp({host})/"),
                    "allowed_roles": name,
                    "username": url.username(),
                    "password": url.password().unwrap_or_default(),
                    "verify_connection": true,
                }),
            ),
            (
                format!("database/roles/{name}"),
                json!({
                    "db_name": name,
                    "creation_statements": format!(
                        "CREATE USER '{{{{name}}}}'@'%' IDENTIFIED BY '{{{{password}}}}'; \
                         GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO '{{{{name}}}}'@'%';"
                    ),
                    "default_ttl": ttl,
                    "max_ttl": max_ttl,
                }),
            ),
        ] {
            self.write(&path, body).await;
        }
    }

    async fn write(&self, path: &str, body: serde_json::Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", "root")
            .json(&body)
            .send()
            .await
            .expect("OpenBao");
        let status = resp.status();
        assert!(
            status.is_success(),
            "{path}: {status} {}",
            resp.text().await.unwrap_or_default()
        );
    }

    /// Revokes every lease under `prefix` (Vault drops their users).
    async fn revoke(&self, prefix: &str) {
        let resp = reqwest::Client::new()
            .put(format!(
                "{}/v1/sys/leases/revoke-prefix/{prefix}",
                self.addr
            ))
            .header("X-Vault-Token", "root")
            .send()
            .await
            .expect("OpenBao");
        assert!(
            resp.status().is_success(),
            "revoke {prefix}: {}",
            resp.status()
        );
    }
}

/// The MariaDB user a fresh connection of the tenant's pool runs as.
async fn current_user(app: &crate::support::TestApp, slug: &str) -> String {
    let tenant = app
        .state
        .tenancy
        .resolve(slug)
        .await
        .ok()
        .flatten()
        .expect("tenant");
    let db = app.state.tenancy.db(&tenant).await.expect("pool");
    sqlx::query_scalar::<_, String>("SELECT CURRENT_USER()")
        .fetch_one(db.pool())
        .await
        .expect("query as the lease's user")
}

/// Writes (uncached) as fast as one client can until `enough(ok)` holds, for at most `within`
/// (failing naming `what`); returns (ok, failed).
async fn steady(
    t: &TenantClient,
    what: &str,
    within: Duration,
    enough: impl Fn(u32) -> bool,
) -> (u32, u32) {
    let (mut ok, mut failed) = (0, 0);
    let until = Instant::now() + within;
    while !enough(ok) {
        assert!(
            Instant::now() < until,
            "{what}: not within {within:?} ({ok} writes, {failed} failed)"
        );
        let email = format!("{}@example.com", unique());
        let r = t
            .post(
                "/v1/insureds",
                json!({"full_name": "Lease Load", "email": email}),
            )
            .await;
        if r.status == 201 {
            ok += 1;
        } else {
            failed += 1;
            eprintln!("failed: {} {}", r.status, r.body);
        }
    }
    (ok, failed)
}

#[tokio::test]
async fn requests_run_on_renewed_and_rotated_vault_credentials_without_failing() {
    let bao = Bao::start().await;
    let admin = spawn_app(Engine::MariaDb).await;
    let t = admin.tenant().await;
    let database = format!(
        "{}{}",
        admin.tenant_database_prefix(),
        t.slug.replace('-', "_")
    );
    // A lease is renewed in the last third of its 10 s, then rotated near its 20 s max TTL. The
    // third (over 3 s) is the margin a busy machine has to run the renewal before Vault drops
    // the user.
    bao.tenant_role(&t.slug, &database, 10, 20).await;
    let flags = [
        "--database-credentials",
        "vault",
        "--vault-addr",
        &bao.addr,
        "VAULT_TOKEN=root",
    ];
    let app = admin.replica(&flags).await;
    let client = app.client_for(&t.slug).await;

    let first = current_user(&app, &t.slug).await;
    assert!(first.starts_with("v-"), "a lease's user, not root: {first}");
    let leases = app.state.tenancy.leases().expect("leases");
    // Load until a renewal and two rotations happened (about 35 s of lease time), however long
    // a busy machine makes that.
    let (ok, failed) = steady(
        &client,
        "a renewal and two rotations",
        Duration::from_secs(90),
        |_| {
            let (renewals, rotations) = leases.counts();
            renewals >= 1 && rotations >= 2
        },
    )
    .await;
    let (renewals, rotations) = leases.counts();
    println!("{ok} writes, {failed} failed; {renewals} renewals, {rotations} rotations");
    assert_eq!(failed, 0, "a request failed while its credentials changed");
    let later = current_user(&app, &t.slug).await;
    assert_ne!(first, later, "the pool reconnected as a new user");

    // Revoked behind the service's back (a lease just rotated in, so its natural rotation is far
    // off): once the lease is due, maintenance finds the renewal refused and replaces it.
    bao.revoke(&format!("database/creds/tenant-{}", t.slug))
        .await;
    eventually("a revoked lease replaced", || async {
        leases.counts().1 > rotations
    })
    .await;
    let (_, failed) = steady(&client, "20 writes after the recovery", PATIENCE, |ok| {
        ok >= 20
    })
    .await;
    assert_eq!(failed, 0, "requests after the recovery");
    bao.revoke("database/creds").await;
}
