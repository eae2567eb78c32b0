//! The one path every SQL statement takes.
//!
//! `Db` is a pool (sqlx's `Any` driver, so SQLite and MariaDB share one code path) plus a
//! statement counter. Store functions receive a `Sql` (`sql.rs`) — a borrowed connection, pooled
//! or inside a transaction — and run their statements through its four methods, which count each
//! one and wrap it in a client span. The counter is how tests prove that a query's statement count
//! does not grow with its page size.
//!
//! Getting a connection is timed into `db_pool_acquire_duration_seconds{pool}`: the wait a
//! request spends queued on an exhausted pool is the first thing to look at when latency rises
//! with load while the database itself is idle. A write transaction is timed apart, into
//! `db_transaction_begin_duration_seconds{pool}`, because sqlx hands out a transaction only
//! with its connection: that wait includes the BEGIN, which on SQLite waits for the write lock.

mod sql;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::{Any, Transaction, any::AnyPoolOptions, pool::PoolConnection};

pub use sql::{Sql, Stmt, StmtAs, StmtScalar, query, query_as, query_scalar};

use crate::platform::error::Result;

/// Which pool a `Db` is, in metrics: the landlord's, or one of the tenants'.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolRole {
    Landlord,
    Tenant,
}

impl PoolRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PoolRole::Landlord => "landlord",
            PoolRole::Tenant => "tenant",
        }
    }
}

/// A snapshot of one pool, or the sum of several.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolUsage {
    pub pools: u32,
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
}

impl std::ops::Add for PoolUsage {
    type Output = PoolUsage;

    fn add(self, o: PoolUsage) -> PoolUsage {
        PoolUsage {
            pools: self.pools + o.pools,
            in_use: self.in_use + o.in_use,
            idle: self.idle + o.idle,
            max: self.max + o.max,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: sqlx::AnyPool,
    /// The share of the replica's tenant-connection budget this pool holds (`tenancy::pools`).
    budget: Option<Arc<Share>>,
    statements: Arc<AtomicU64>,
    role: PoolRole,
    /// `db.system.name` of statement spans.
    system: &'static str,
    /// SQLite: write transactions must take the write lock up front (`BEGIN IMMEDIATE`). A
    /// deferred transaction that reads and then writes fails at once with "database is locked"
    /// when another writer got in between; an immediate one waits (busy_timeout) instead.
    immediate: bool,
}

/// A pool's share of a connection budget. When the pool's last `Db` handle goes, it closes the
/// pool, waiting for connections still being returned (sqlx returns them in tasks of their own,
/// rolling back what was left open), and only then gives the share back: a pool opened with it
/// never overlaps this one.
#[derive(Debug)]
pub struct Share {
    pool: sqlx::AnyPool,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for Share {
    fn drop(&mut self) {
        let (pool, permit) = (self.pool.clone(), self.permit.take());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                pool.close().await;
                drop(permit);
            });
        }
    }
}

/// Each SQLite connection's page cache: 256 KiB (a negative size is in KiB).
const SQLITE_CACHE_PRAGMA: &str = "PRAGMA cache_size = -256";

impl Db {
    /// Whether this is SQLite (else MariaDB): for the few statements the engines spell apart.
    pub fn is_sqlite(&self) -> bool {
        self.system == "sqlite"
    }

    /// Connects lazily: no connection is opened until a statement needs one, and idle connections
    /// are closed, so an idle tenant holds no connection at all.
    pub fn connect_lazy(url: &str, max_connections: u32, role: PoolRole) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    // SQLite's own page cache is per connection (2 MiB each by default), on top
                    // of the kernel's cache of the same file: a small one costs a few preads
                    // and saves most of the embedded default's memory (P8).
                    if sqlite {
                        sqlx::Executor::execute(&mut *conn, SQLITE_CACHE_PRAGMA).await?;
                    }
                    Ok(())
                })
            })
            .max_connections(max_connections)
            .min_connections(0)
            .idle_timeout(Duration::from_secs(60))
            .acquire_timeout(Duration::from_secs(5))
            // sqlx pings every connection as it goes back to the pool; one more ping before
            // each use would double an uncached read's round trips for nothing (P9).
            .test_before_acquire(false)
            .connect_lazy(url)?;
        Ok(Db {
            pool,
            budget: None,
            statements: Arc::default(),
            role,
            system: if sqlite { "sqlite" } else { "mariadb" },
            immediate: sqlite,
        })
    }

    /// This pool holding `permit` of a connection budget until, after its last handle is
    /// dropped, it has closed every connection.
    pub fn holding(mut self, permit: tokio::sync::OwnedSemaphorePermit) -> Db {
        self.budget = Some(Arc::new(Share {
            pool: self.pool.clone(),
            permit: Some(permit),
        }));
        self
    }

    pub fn pool(&self) -> &sqlx::AnyPool {
        &self.pool
    }

    pub async fn conn(&self) -> Result<DbConn> {
        let started = Instant::now();
        let conn = self.pool.acquire().await;
        metrics::histogram!("db_pool_acquire_duration_seconds", "pool" => self.role.as_str())
            .record(started.elapsed().as_secs_f64());
        Ok(DbConn {
            conn: conn?,
            statements: self.statements.clone(),
            system: self.system,
        })
    }

    /// A write transaction.
    pub async fn begin(&self) -> Result<DbTx> {
        let started = Instant::now();
        let tx = if self.immediate {
            sql::answered(self.pool.begin_with("BEGIN IMMEDIATE")).await
        } else {
            sql::answered(self.pool.begin()).await
        };
        metrics::histogram!("db_transaction_begin_duration_seconds", "pool" => self.role.as_str())
            .record(started.elapsed().as_secs_f64());
        Ok(DbTx {
            tx: tx?,
            statements: self.statements.clone(),
            system: self.system,
        })
    }

    /// How many connections are open and idle, and the most there may be.
    pub fn usage(&self) -> PoolUsage {
        let open = self.pool.size();
        let idle = self.pool.num_idle() as u32;
        PoolUsage {
            pools: 1,
            in_use: open.saturating_sub(idle),
            idle,
            max: self.pool.options().get_max_connections(),
        }
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
    system: &'static str,
}

impl DbConn {
    pub fn sql(&mut self) -> Sql<'_> {
        Sql::new(&mut self.conn, &self.statements, self.system)
    }
}

pub struct DbTx {
    tx: Transaction<'static, Any>,
    statements: Arc<AtomicU64>,
    system: &'static str,
}

impl DbTx {
    pub fn sql(&mut self) -> Sql<'_> {
        Sql::new(&mut self.tx, &self.statements, self.system)
    }

    pub async fn commit(self) -> Result<()> {
        sql::answered(self.tx.commit()).await
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
