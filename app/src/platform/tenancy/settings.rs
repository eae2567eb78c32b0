//! The database variables: where the landlord and the tenants' databases live (SQLite files, or
//! a MariaDB server and its TLS), the pools, the tenant cache, and whose credentials connect.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{Args, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

use crate::platform::{
    config::value::any_secs,
    error::{Error, Result},
    secrets::settings::VaultSettings,
};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseConfig {
    /// DATABASE_URL (a secret).
    #[arg(skip)]
    pub url: Option<SecretString>,

    /// Folder of the SQLite files: one per database, `<name>.db` (landlord and each tenant).
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Name of the landlord (tenant registry) database.
    #[arg(long, env = "LANDLORD_DATABASE", default_value = "policy_landlord")]
    pub landlord_database: String,

    /// Prefix of every tenant database name: `<prefix><slug with - as _>`.
    #[arg(long, env = "TENANT_DATABASE_PREFIX", default_value = "tenant_")]
    pub tenant_database_prefix: String,

    /// CA bundle for TLS to MariaDB (the seed's MYSQL_ATTR_SSL_CA), trusted besides the
    /// system's roots; unset, TLS_EXTRA_CA_CERTS takes its place. Either set: TLS is required.
    #[arg(long, env = "MYSQL_ATTR_SSL_CA")]
    pub ssl_ca: Option<PathBuf>,

    /// Verify the server's certificate and host name. Default: on when APP_ENV=production and a
    /// CA is set, off in development (TLS still required when a CA is set).
    #[arg(long, env = "MYSQL_ATTR_SSL_VERIFY_SERVER_CERT", num_args = 0..=1, default_missing_value = "true")]
    pub ssl_verify_server_cert: Option<bool>,

    /// Connections at most in the landlord pool.
    #[arg(long, env = "LANDLORD_MAX_CONNECTIONS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub landlord_max_connections: u32,

    /// Connections at most in each tenant's pool.
    #[arg(long, env = "TENANT_MAX_CONNECTIONS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub tenant_max_connections: u32,

    /// Tenant pools kept open at most; the least used beyond it are closed.
    #[arg(long, env = "TENANT_POOLS_MAX", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub tenant_pools_max: u64,

    /// A tenant pool unused this long (s) is closed.
    #[arg(id = "tenant_pool_idle_secs", long = "tenant-pool-idle-secs", env = "TENANT_POOL_IDLE_SECS", default_value = "300", value_parser = any_secs)]
    pub tenant_pool_idle: Duration,

    /// How long (s) a resolved tenant (status included) is trusted before the landlord is asked
    /// again.
    #[arg(id = "tenant_cache_ttl_secs", long = "tenant-cache-ttl-secs", env = "TENANT_CACHE_TTL_SECS", default_value = "5", value_parser = any_secs)]
    pub tenant_cache_ttl: Duration,

    /// How long (s) a slug that names no tenant is remembered as such (a tenant created through
    /// another process is refused for at most this long).
    #[arg(id = "tenant_negative_cache_secs", long = "tenant-negative-cache-secs", env = "TENANT_NEGATIVE_CACHE_SECS", default_value = "2", value_parser = any_secs)]
    pub tenant_negative_cache: Duration,

    /// Tenants migrated at once by `migrate`.
    #[arg(long, env = "MIGRATE_CONCURRENCY", default_value_t = 4)]
    pub migrate_concurrency: usize,

    /// `static`: every connection as DATABASE_URL's user. `vault` (MariaDB): each tenant's
    /// requests as the user of its own Vault lease (`{VAULT_DATABASE_MOUNT}/creds/{role}`),
    /// renewed and rotated by the service.
    #[arg(long, env = "DATABASE_CREDENTIALS", value_enum, default_value_t = CredentialsSource::Static)]
    pub database_credentials: CredentialsSource,

    #[command(flatten)]
    pub vault: VaultSettings,

    /// The mount of Vault's database secrets engine.
    #[arg(long, env = "VAULT_DATABASE_MOUNT", default_value = "database")]
    pub vault_database_mount: String,

    /// The database role of a tenant; `{tenant}` is its slug (the seed's `tenant-{tenant}`).
    #[arg(long, env = "VAULT_DATABASE_ROLE", default_value = "tenant-{tenant}")]
    pub vault_database_role: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CredentialsSource {
    Static,
    Vault,
}

/// Where databases live: decided once from DATABASE_URL.
#[derive(Debug, Clone)]
pub enum Engine {
    Sqlite {
        dir: PathBuf,
    },
    MySql {
        server: SecretString,
        tls_query: String,
    },
}

impl DatabaseConfig {
    /// The engine DATABASE_URL names; over TLS, trusting `extra_ca` (TLS_EXTRA_CA_CERTS) when
    /// MYSQL_ATTR_SSL_CA is unset, and verifying by default in `production`.
    pub fn engine(&self, extra_ca: Option<&Path>, production: bool) -> Result<Engine> {
        let Some(url) = &self.url else {
            return Ok(Engine::Sqlite {
                dir: self.data_dir.clone(),
            });
        };
        let parsed = url::Url::parse(url.expose_secret())
            .map_err(|e| Error::Config(format!("DATABASE_URL is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "mysql" | "mariadb") {
            return Err(Error::Config(
                "DATABASE_URL must start with mysql://".into(),
            ));
        }
        if !matches!(parsed.path(), "" | "/") {
            return Err(Error::Config(
                "DATABASE_URL names a server, not a database: drop the path (see LANDLORD_DATABASE)"
                    .into(),
            ));
        }
        let mut server = parsed;
        server.set_scheme("mysql").ok();
        server.set_query(None);
        // The seed's charset and collation, and its TLS options (CA file, verify on/off).
        let mut tls_query = String::from("charset=utf8mb4&collation=utf8mb4_unicode_ci");
        let ca = self.ssl_ca.as_deref().or(extra_ca);
        match (ca, self.ssl_verify_server_cert.unwrap_or(production)) {
            (Some(ca), verify) => {
                let mode = if verify {
                    "VERIFY_IDENTITY"
                } else {
                    "REQUIRED"
                };
                tls_query.push_str(&format!("&ssl-mode={mode}&ssl-ca={}", ca.display()));
            }
            // Without a CA, verifying is asked for explicitly only: a plain in-cluster server
            // stays reachable in production.
            (None, _) if self.ssl_verify_server_cert == Some(true) => {
                tls_query.push_str("&ssl-mode=VERIFY_IDENTITY")
            }
            (None, _) => tls_query.push_str("&ssl-mode=PREFERRED"),
        }
        let server = server.as_str().trim_end_matches('/').to_owned();
        Ok(Engine::MySql {
            server: server.into(),
            tls_query,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: DatabaseConfig,
    }

    /// The settings of `args`, with DATABASE_URL `database_url`.
    fn parse(database_url: &str, args: &[&str]) -> DatabaseConfig {
        let mut config = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .map(|c| c.config)
            .unwrap_or_else(|e| panic!("{e}"));
        config.url = Some(SecretString::from(database_url));
        config
    }

    #[test]
    fn debug_never_prints_the_database_password() {
        let c = parse("mysql://root:hunter2@db:3306", &[]);
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn tls_options_pass_through() {
        let c = parse("mysql://root@db:3306", &["--ssl-ca", "/ca.pem"]);
        let Ok(Engine::MySql { tls_query, .. }) = c.engine(None, false) else {
            panic!()
        };
        assert!(
            tls_query.contains("ssl-mode=REQUIRED&ssl-ca=/ca.pem"),
            "{tls_query}"
        );
        let c = parse(
            "mysql://root@db:3306",
            &["--ssl-ca", "/ca.pem", "--ssl-verify-server-cert"],
        );
        let Ok(Engine::MySql { tls_query, .. }) = c.engine(None, false) else {
            panic!()
        };
        assert!(
            tls_query.contains("ssl-mode=VERIFY_IDENTITY"),
            "{tls_query}"
        );
    }

    #[test]
    fn production_verifies_and_the_extra_bundle_stands_in() {
        let c = parse("mysql://root@db:3306", &[]);
        let extra = Path::new("/extra.pem");
        let Ok(Engine::MySql { tls_query, .. }) = c.engine(Some(extra), true) else {
            panic!()
        };
        assert!(
            tls_query.contains("ssl-mode=VERIFY_IDENTITY&ssl-ca=/extra.pem"),
            "{tls_query}"
        );
        let Ok(Engine::MySql { tls_query, .. }) = c.engine(None, true) else {
            panic!()
        };
        assert!(tls_query.contains("ssl-mode=PREFERRED"), "{tls_query}");
        let c = parse(
            "mysql://root@db:3306",
            &["--ssl-ca", "/ca.pem", "--ssl-verify-server-cert=false"],
        );
        let Ok(Engine::MySql { tls_query, .. }) = c.engine(Some(extra), true) else {
            panic!()
        };
        assert!(
            tls_query.contains("ssl-mode=REQUIRED&ssl-ca=/ca.pem"),
            "{tls_query}"
        );
    }

    #[test]
    fn a_database_in_the_url_is_refused() {
        let c = parse("mysql://root@db:3306/app", &[]);
        assert!(c.engine(None, false).is_err());
    }
}
