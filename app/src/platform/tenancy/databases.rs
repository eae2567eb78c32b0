//! Where a database lives on each engine, and how one is created or dropped.
//! SQLite: one file per database under DATA_DIR. MariaDB: one database per tenant on the
//! DATABASE_URL server, utf8mb4 / utf8mb4_unicode_ci as in the seed's `config/database.php`.

use std::path::PathBuf;

use secrecy::ExposeSecret;
use sqlx::{AnyConnection, Connection, mysql::MySqlDatabaseError};

use crate::{
    platform::error::{Error, Result},
    platform::secrets::leases::Credentials,
    platform::tenancy::settings::Engine,
};

#[derive(Debug, Clone)]
pub struct Databases {
    engine: Engine,
}

/// A database name we built ourselves: only `[a-z0-9_]`, so it is safe to quote into DDL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DatabaseName(String);

impl DatabaseName {
    pub fn parse(name: &str) -> Result<DatabaseName> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(DatabaseName(name.to_owned()))
        } else {
            Err(Error::Config(format!(
                "`{name}` is not a usable database name ([a-z0-9_], 64 at most)"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Databases {
    pub fn new(engine: Engine) -> Databases {
        Databases { engine }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.engine, Engine::Sqlite { .. })
    }

    /// The database's URL as `user` (dynamic credentials) instead of DATABASE_URL's user; the
    /// same as `url` on SQLite.
    pub fn url_as(&self, db: &DatabaseName, user: Option<&Credentials>) -> String {
        let url = self.url(db);
        let (Some(user), Engine::MySql { .. }) = (user, &self.engine) else {
            return url;
        };
        match url::Url::parse(&url) {
            Ok(mut parsed) => {
                let named = parsed.set_username(&user.username).is_ok()
                    && parsed
                        .set_password(Some(user.password.expose_secret()))
                        .is_ok();
                if named { parsed.to_string() } else { url }
            }
            Err(_) => url,
        }
    }

    pub fn url(&self, db: &DatabaseName) -> String {
        match &self.engine {
            Engine::Sqlite { dir } => {
                // The driver percent-decodes the path and splits it at `?`: escape what a
                // folder name may hold (`DATA_DIR=/srv/100%`) so it is read back as written.
                let path = self.sqlite_file(dir, db).to_string_lossy().into_owned();
                let path = path
                    .replace('%', "%25")
                    .replace('?', "%3F")
                    .replace('#', "%23");
                format!("sqlite://{path}?mode=rwc")
            }
            Engine::MySql { server, tls_query } => {
                format!("{}/{}?{tls_query}", server.expose_secret(), db.as_str())
            }
        }
    }

    fn sqlite_file(&self, dir: &std::path::Path, db: &DatabaseName) -> PathBuf {
        dir.join(format!("{}.db", db.as_str()))
    }

    /// Creates a database that must not exist yet (a tenant's): what this call creates, and only
    /// that, may be dropped again if provisioning fails.
    pub async fn create_new(&self, db: &DatabaseName) -> Result<()> {
        let taken = || {
            Error::conflict(
                "database_exists",
                format!("database {} exists", db.as_str()),
            )
        };
        match &self.engine {
            Engine::Sqlite { dir } => {
                tokio::fs::create_dir_all(dir).await?;
                // create_new: the file is made here, or the call fails if it exists.
                match tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(self.sqlite_file(dir, db))
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(taken()),
                    Err(e) => Err(e.into()),
                }
            }
            Engine::MySql { .. } => {
                let ddl = format!(
                    "CREATE DATABASE `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
                    db.as_str()
                );
                match self.server_statement(ddl).await {
                    Err(sqlx::Error::Database(e))
                        if e.try_downcast_ref::<MySqlDatabaseError>()
                            .map(|m| m.number())
                            == Some(1007) =>
                    {
                        Err(taken())
                    }
                    other => Ok(other?),
                }
            }
        }
    }

    /// Creates the database if it does not exist yet (the landlord's).
    pub async fn create(&self, db: &DatabaseName) -> Result<()> {
        match &self.engine {
            Engine::Sqlite { dir } => {
                // `mode=rwc` creates the file on first connect; the folder must exist.
                tokio::fs::create_dir_all(dir).await?;
                Ok(())
            }
            Engine::MySql { .. } => {
                let ddl = format!(
                    "CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
                    db.as_str()
                );
                self.server_statement(ddl)
                    .await
                    .map_err(|e| self.unreachable(db, &e))
            }
        }
    }

    /// A start error for `db` that names the server and says why (a refused certificate, a
    /// refused login, no answer), never the URL: it holds the password.
    fn unreachable(&self, db: &DatabaseName, e: &sqlx::Error) -> Error {
        let Engine::MySql { server, .. } = &self.engine else {
            return Error::Config(format!("cannot open database {}: {e}", db.as_str()));
        };
        let url = url::Url::parse(server.expose_secret()).ok();
        let host = url.as_ref().and_then(|u| u.host_str()).unwrap_or("?");
        let port = url.as_ref().and_then(url::Url::port).unwrap_or(3306);
        Error::Config(format!(
            "cannot open database {} on the MariaDB server {host}:{port}: {e}",
            db.as_str()
        ))
    }

    /// Drops the database and everything in it. Used by tests and by failed provisioning.
    pub async fn drop(&self, db: &DatabaseName) -> Result<()> {
        match &self.engine {
            Engine::Sqlite { dir } => {
                let file = self.sqlite_file(dir, db);
                for suffix in ["", "-wal", "-shm"] {
                    let path = PathBuf::from(format!("{}{suffix}", file.display()));
                    match tokio::fs::remove_file(&path).await {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                        _ => {}
                    }
                }
                Ok(())
            }
            Engine::MySql { .. } => {
                let ddl = format!("DROP DATABASE IF EXISTS `{}`", db.as_str());
                Ok(self.server_statement(ddl).await?)
            }
        }
    }

    async fn server_statement(&self, ddl: String) -> Result<(), sqlx::Error> {
        let Engine::MySql { server, tls_query } = &self.engine else {
            return Ok(());
        };
        sqlx::any::install_default_drivers();
        let mut conn =
            AnyConnection::connect(&format!("{}/?{tls_query}", server.expose_secret())).await?;
        sqlx::query(sqlx::AssertSqlSafe(ddl))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(())
    }
}
