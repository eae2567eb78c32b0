//! Generation counters: a key's or a tag's current generation, 0 if it was never bumped.
//!
//! A bump takes a value from one process-wide counter, so a value is never reused: an entry
//! stamped with an old generation can never match again (no ABA). A record is kept for longer
//! than any entry can live (`KEEP`, reset by each bump), so forgetting it cannot make an entry
//! that depended on it look current again: every such entry has expired by then.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use super::keys::MAX_TTL;

pub const KEEP: Duration = MAX_TTL.saturating_add(Duration::from_secs(60));

pub struct Generations {
    next: AtomicU64,
    of: moka::sync::Cache<String, u64>,
}

impl Generations {
    pub fn new() -> Generations {
        Generations {
            next: AtomicU64::new(1),
            of: moka::sync::Cache::builder().time_to_live(KEEP).build(),
        }
    }

    pub fn stamp(&self, names: &[String]) -> Vec<u64> {
        names.iter().map(|n| self.of.get(n).unwrap_or(0)).collect()
    }

    pub fn bump(&self, name: &str) {
        self.of
            .insert(name.to_owned(), self.next.fetch_add(1, Ordering::Relaxed));
    }
}
