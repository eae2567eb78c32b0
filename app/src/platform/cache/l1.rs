//! L1: moka, in this process, bounded by weight (`CACHE_L1_MAX_BYTES`), each entry with its own
//! TTL (±10% jitter, so entries filled together do not expire together) and its stamp: the
//! local generations of its key, its tags and L1's epoch (bumped by `clear`) when it was read.

use std::{
    any::Any,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use moka::{Expiry, future::Cache, notification::RemovalCause};

use super::{NEGATIVE_TTL, generations::Generations, keys::Key};
use crate::platform::error::{Error, Result};

pub struct Entry {
    value: Arc<dyn Any + Send + Sync>,
    stamp: Vec<u64>,
    weight: u32,
    ttl: Duration,
}

impl Entry {
    fn new<K: Key>(value: Option<K::Value>, stamp: Vec<u64>) -> Entry {
        let (weight, ttl) = match &value {
            Some(v) => (K::weight(v), super::jittered(K::TTL)),
            None => (16, NEGATIVE_TTL),
        };
        Entry {
            value: Arc::new(value),
            stamp,
            weight: weight.saturating_add(64),
            ttl,
        }
    }

    pub fn stamp(&self) -> &[u64] {
        &self.stamp
    }

    /// The value, `None` inside for "no such record"; `None` outside if the entry holds another
    /// type (names are per key type, so it does not).
    fn typed<K: Key>(&self) -> Option<Option<K::Value>> {
        self.value.downcast_ref::<Option<K::Value>>().cloned()
    }

    pub fn value<K: Key>(&self) -> Option<K::Value> {
        self.typed::<K>().flatten()
    }
}

struct PerEntry;

impl Expiry<String, Arc<Entry>> for PerEntry {
    fn expire_after_create(&self, _: &String, e: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(e.ttl)
    }
}

/// The name of L1's own generation: bumped when everything it holds must go (`clear`).
const EPOCH: &str = "epoch";

pub struct L1 {
    entries: Cache<String, Arc<Entry>>,
    generations: Generations,
}

impl L1 {
    pub fn new(max_bytes: u64) -> L1 {
        L1 {
            entries: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, e: &Arc<Entry>| e.weight)
                .expire_after(PerEntry)
                .eviction_listener(|_, _, cause| {
                    if cause == RemovalCause::Size {
                        metrics::counter!("cache_evictions_total").increment(1);
                    }
                })
                .build(),
            generations: Generations::new(),
        }
    }

    /// The generations of `names` and of the epoch, now.
    pub fn stamp(&self, names: &[String]) -> Vec<u64> {
        let mut stamp = self.generations.stamp(names);
        stamp.extend(self.generations.stamp(&[EPOCH.to_owned()]));
        stamp
    }

    /// Drops every entry, and any fill begun before (its stamp has the old epoch).
    pub fn clear(&self) {
        self.generations.bump(EPOCH);
        self.entries.invalidate_all();
    }

    /// Keeps `value`, read under `stamp` (of `depends`), unless a change has overtaken it.
    pub async fn keep<K: Key>(
        &self,
        name: &str,
        depends: &[String],
        value: Option<K::Value>,
        stamp: Vec<u64>,
    ) {
        let overtaken = |stamp: &[u64]| self.stamp(depends) != stamp;
        if overtaken(&stamp) {
            return;
        }
        let entry = Arc::new(Entry::new::<K>(value, stamp));
        self.entries.insert(name.to_owned(), entry.clone()).await;
        // A change between the check and the insert: `fresh` would refuse the entry anyway;
        // dropping it now frees its room.
        if overtaken(entry.stamp()) {
            self.entries.invalidate(name).await;
        }
    }

    pub fn bump(&self, name: &str) {
        self.generations.bump(name);
    }

    /// The entry's value if it is current for `seen`; a stale one is dropped.
    pub async fn fresh<K: Key>(&self, name: &str, seen: &[u64]) -> Option<Option<K::Value>> {
        let hit = match self.entries.get(name).await {
            Some(e) if e.stamp == seen => e.typed::<K>(),
            Some(_) => {
                self.entries.invalidate(name).await;
                None
            }
            None => None,
        };
        let outcome = if hit.is_some() { "hit" } else { "miss" };
        metrics::counter!("cache_requests_total", "tier" => "l1", "outcome" => outcome)
            .increment(1);
        hit
    }

    /// Loads once for all concurrent callers of `name` (moka's single flight), stamping the
    /// entry with the generations seen before the load began.
    pub async fn load<K: Key, Fut>(
        &self,
        name: &str,
        stamp: Vec<u64>,
        load: Fut,
    ) -> std::result::Result<Arc<Entry>, Arc<Error>>
    where
        Fut: Future<Output = Result<Option<K::Value>>>,
    {
        self.entries
            .try_get_with(name.to_owned(), async move {
                Ok(Arc::new(Entry::new::<K>(load.await?, stamp)))
            })
            .await
    }

    pub async fn drop_entry(&self, name: &str) {
        self.entries.invalidate(name).await;
    }
}
