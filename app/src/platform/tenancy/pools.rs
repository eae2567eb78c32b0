//! The open tenant pools, and the replica's connection ceiling.
//!
//! The promise to operators: a replica never has more than
//! `TENANT_POOLS_MAX × TENANT_MAX_CONNECTIONS` tenant connections open (plus the landlord's and
//! the few one-off connections of background work), so `max_connections` can be sized against
//! it. An LRU of pools alone does not keep it: a pool evicted while a request still uses it keeps
//! its connections until that request ends, and a new tenant's pool opens meanwhile.
//!
//! So the ceiling is a budget, a semaphore of `POOLS_MAX × MAX_CONNECTIONS` permits. A pool takes
//! `MAX_CONNECTIONS` of them when it opens and gives them back only when its last handle is
//! dropped and its connections with it (`Db::holding`). A new tenant's pool waits for budget
//! (up to `ACQUIRE`, then 503, counted in `db_pool_budget_timeouts_total`) while the pool it
//! displaced finishes its requests: at no moment are more connections open than the budget
//! allows.
//!
//! Data structure: a short list (at most POOLS_MAX) of open pools with when each was last used,
//! under a mutex held for microseconds. The least recently used is let go when a new one finds
//! no budget, and `close_idle` (run every second by the server) drops those unused for
//! TENANT_POOL_IDLE_SECS, without waiting for traffic.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::{
    platform::db::Db,
    platform::error::{Error, Result},
};

/// How long a request waits for connection budget before it is told to retry (503).
const ACQUIRE: Duration = Duration::from_secs(5);
/// While waiting, how often it looks again for budget, or for the pool opened by another.
const RECHECK: Duration = Duration::from_millis(50);

enum Waited {
    Budget(OwnedSemaphorePermit),
    Opened(Db),
}

struct Open {
    name: String,
    db: Db,
    used: Instant,
}

pub struct Pools {
    open: Mutex<Vec<Open>>,
    budget: Arc<Semaphore>,
    per_pool: u32,
    idle: Duration,
}

impl Pools {
    pub fn new(max_pools: usize, per_pool: u32, idle: Duration) -> Pools {
        let per_pool = per_pool.max(1);
        let max_pools = max_pools.clamp(1, Semaphore::MAX_PERMITS / per_pool as usize);
        Pools {
            open: Mutex::new(Vec::with_capacity(max_pools.min(1024))),
            budget: Arc::new(Semaphore::new(max_pools * per_pool as usize)),
            per_pool,
            idle,
        }
    }

    fn list(&self) -> MutexGuard<'_, Vec<Open>> {
        // A panic while holding it cannot leave the list half-changed: every change is one push,
        // remove or field write.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pool named `name`, opened with `connect` (which must not do I/O) on first use.
    pub async fn get(&self, name: &str, connect: impl Fn() -> Result<Db>) -> Result<Db> {
        if let Some(db) = self.touch(name) {
            return Ok(db);
        }
        let permit = match self.budget_for(name).await? {
            Waited::Budget(permit) => permit,
            Waited::Opened(db) => return Ok(db),
        };
        let mut open = self.list();
        // Another request may have opened it while this one waited: use that one (this permit
        // goes back as it drops).
        if let Some(found) = open.iter_mut().find(|o| o.name == name) {
            found.used = Instant::now();
            return Ok(found.db.clone());
        }
        let db = connect()?.holding(permit);
        open.push(Open {
            name: name.to_owned(),
            db: db.clone(),
            used: Instant::now(),
        });
        Ok(db)
    }

    /// One pool's share of the budget, or the pool itself if another request opened it
    /// meanwhile. While there is no budget, this request lets the least recently used open pool
    /// go, once (its share returns when its last request ends), and waits, up to `ACQUIRE`.
    async fn budget_for(&self, name: &str) -> Result<Waited> {
        let closed = || Error::Unavailable("shutting down".into());
        let deadline = Instant::now() + ACQUIRE;
        let mut let_go = false;
        loop {
            if let Some(db) = self.touch(name) {
                return Ok(Waited::Opened(db));
            }
            match self.budget.clone().try_acquire_many_owned(self.per_pool) {
                Ok(permit) => return Ok(Waited::Budget(permit)),
                Err(TryAcquireError::Closed) => return Err(closed()),
                Err(TryAcquireError::NoPermits) if !let_go => {
                    self.let_go_oldest();
                    let_go = true;
                }
                Err(TryAcquireError::NoPermits) => {}
            }
            if Instant::now() >= deadline {
                metrics::counter!("db_pool_budget_timeouts_total").increment(1);
                tracing::warn!(pool = name, "no tenant-connection budget free in time");
                return Err(Error::Unavailable(
                    "too many tenants at once, try again".into(),
                ));
            }
            let wanted = self.budget.clone().acquire_many_owned(self.per_pool);
            match tokio::time::timeout(RECHECK, wanted).await {
                Ok(Ok(permit)) => return Ok(Waited::Budget(permit)),
                Ok(Err(_)) => return Err(closed()),
                Err(_) => {}
            }
        }
    }

    fn touch(&self, name: &str) -> Option<Db> {
        let mut open = self.list();
        let found = open.iter_mut().find(|o| o.name == name)?;
        found.used = Instant::now();
        Some(found.db.clone())
    }

    fn let_go_oldest(&self) {
        let mut open = self.list();
        if let Some(oldest) = (0..open.len()).min_by_key(|i| open[*i].used) {
            open.swap_remove(oldest);
        }
    }

    /// Drops the pools unused for the idle time; their connections close once no request
    /// holds them.
    pub fn close_idle(&self) {
        let idle = self.idle;
        self.list().retain(|o| o.used.elapsed() < idle);
    }

    /// Lets go of the pool named `name` (its credentials were replaced): requests holding it
    /// finish on it, and the next one opens a new pool.
    pub fn forget(&self, name: &str) {
        self.list().retain(|o| o.name != name);
    }

    /// The pool if it is open, without counting as use.
    pub fn peek(&self, name: &str) -> Option<Db> {
        self.list()
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.db.clone())
    }

    /// Every open pool (for gauges), without counting as use.
    pub fn all(&self) -> Vec<Db> {
        self.list().iter().map(|o| o.db.clone()).collect()
    }

    /// Closes every pool (graceful shutdown) and refuses new ones.
    pub async fn close(&self) {
        let all: Vec<Open> = std::mem::take(&mut *self.list());
        self.budget.close();
        for o in all {
            o.db.close().await;
        }
    }
}
