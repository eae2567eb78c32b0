//! The one path every SQL statement takes.
//!
//! `Db` is a pool (sqlx's `Any` driver, so SQLite and MariaDB share one code path) plus a
//! statement counter. Store functions receive a `Sql` — a borrowed connection, pooled or inside a
//! transaction — and run their statements through its four methods, which count each one. The
//! counter is how tests prove that a query's statement count does not grow with its page size, and
//! it is the single place where per-statement telemetry (spans, timings) will hook in.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use sqlx::{
    Any, AnyConnection, FromRow, Transaction,
    any::{AnyArguments, AnyPoolOptions, AnyRow},
    pool::PoolConnection,
    query::{Query, QueryAs, QueryScalar},
};

use crate::error::Result;

pub type Stmt<'q> = Query<'q, Any, AnyArguments>;
pub type StmtAs<'q, T> = QueryAs<'q, Any, T, AnyArguments>;
pub type StmtScalar<'q, T> = QueryScalar<'q, Any, T, AnyArguments>;

#[derive(Clone, Debug)]
pub struct Db {
    pool: sqlx::AnyPool,
    statements: Arc<AtomicU64>,
    /// SQLite: write transactions must take the write lock up front (`BEGIN IMMEDIATE`). A
    /// deferred transaction that reads and then writes fails at once with "database is locked"
    /// when another writer got in between; an immediate one waits (busy_timeout) instead.
    immediate: bool,
}

impl Db {
    /// Connects lazily: no connection is opened until a statement needs one, and idle connections
    /// are closed, so an idle tenant holds no connection at all.
    pub fn connect_lazy(url: &str, max_connections: u32) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .idle_timeout(Duration::from_secs(60))
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(url)?;
        Ok(Db {
            pool,
            statements: Arc::default(),
            immediate: url.starts_with("sqlite:"),
        })
    }

    pub fn pool(&self) -> &sqlx::AnyPool {
        &self.pool
    }

    pub async fn conn(&self) -> Result<DbConn> {
        Ok(DbConn {
            conn: self.pool.acquire().await?,
            statements: self.statements.clone(),
        })
    }

    /// A write transaction.
    pub async fn begin(&self) -> Result<DbTx> {
        let tx = if self.immediate {
            self.pool.begin_with("BEGIN IMMEDIATE").await?
        } else {
            self.pool.begin().await?
        };
        Ok(DbTx {
            tx,
            statements: self.statements.clone(),
        })
    }

    /// Statements run through this pool since it was opened.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub struct DbConn {
    conn: PoolConnection<Any>,
    statements: Arc<AtomicU64>,
}

impl DbConn {
    pub fn sql(&mut self) -> Sql<'_> {
        Sql {
            conn: &mut self.conn,
            statements: &self.statements,
        }
    }
}

pub struct DbTx {
    tx: Transaction<'static, Any>,
    statements: Arc<AtomicU64>,
}

impl DbTx {
    pub fn sql(&mut self) -> Sql<'_> {
        Sql {
            conn: &mut self.tx,
            statements: &self.statements,
        }
    }

    pub async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }
}

/// A connection borrowed for a few statements.
pub struct Sql<'c> {
    conn: &'c mut AnyConnection,
    statements: &'c AtomicU64,
}

impl Sql<'_> {
    fn count(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    pub async fn all<T>(&mut self, q: StmtAs<'_, T>) -> Result<Vec<T>>
    where
        T: Send + Unpin + for<'r> FromRow<'r, AnyRow>,
    {
        self.count();
        Ok(q.fetch_all(&mut *self.conn).await?)
    }

    pub async fn optional<T>(&mut self, q: StmtAs<'_, T>) -> Result<Option<T>>
    where
        T: Send + Unpin + for<'r> FromRow<'r, AnyRow>,
    {
        self.count();
        Ok(q.fetch_optional(&mut *self.conn).await?)
    }

    pub async fn scalar<T>(&mut self, q: StmtScalar<'_, T>) -> Result<T>
    where
        T: Send + Unpin,
        (T,): for<'r> FromRow<'r, AnyRow>,
    {
        self.count();
        Ok(q.fetch_one(&mut *self.conn).await?)
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn execute(&mut self, q: Stmt<'_>) -> Result<u64> {
        self.count();
        Ok(q.execute(&mut *self.conn).await?.rows_affected())
    }
}

/// Builds `?, ?, ?` for an `IN (...)` list of `n` values.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Instants are stored as epoch milliseconds; this is the one clock read.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
