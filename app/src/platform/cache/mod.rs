//! The read cache (the seed's `remember(3600)`), in front of the tenant databases, in two tiers:
//! - L1, moka in the process (`l1.rs`), bounded by `CACHE_L1_MAX_BYTES`;
//! - L2, Redis (`l2.rs`), shared by every replica, with `REDIS_URL`. Its generations live in
//!   Redis too, so a change made through any replica is seen by all at once; and the backplane
//!   (`backplane.rs`) tells every replica to drop its L1 copies.
//!
//! Without `REDIS_URL` (one instance, the embedded setup) there is L1 only; with it and
//! `CACHE_L1_MAX_BYTES=0`, L2 only (as the CLI uses it).
//!
//! Data structures:
//! - **typed keys** (`keys.rs`): a key type names its value type, its tags and its TTL, and is
//!   always read through a `TenantCache`, which puts the tenant in front of every name
//!   (`{t:acme}:policy:0192…`). No handler builds a key string, and no key crosses tenants.
//! - **generations** (`generations.rs` in the process, `l2.rs` in Redis): a counter per key and
//!   per tag, whose values are never reused. `forget` bumps a key's, `flush` a tag's (every key
//!   of a tenant carries the tag `tenant`): O(1), and no set of members to grow or leak.
//! - **entries**: the value, its TTL with jitter, and its *stamp*: the generations of its key
//!   and tags when its load began.
//!
//! An entry is served only while its stamp equals the current generations. That closes, without
//! clocks, the race of every two-tier cache: a load that began before an invalidation must not
//! be served after it. Such a load's stamp is older than the bumped generation, so its entry is
//! dropped on sight (and not kept in the first place, when the change lands mid-load). A request
//! that joins a load begun before its own view of the generations (single flight) does not take
//! that load's value: it loads again itself.
//!
//! With both tiers, a read tries L1 (only while the backplane is up), then L2, then loads. An
//! invalidation bumps L2's generations first (publishing them), then L1's: the other order would
//! let a read between the two refill L1 from the old L2 entry under the new local generation.
//! And the invalidation returns only once every other replica has acknowledged it (`acks.rs`),
//! so before the writer answers its client: a read that follows the write, on any replica, does
//! not find the old copy in L1.
//!
//! Single flight: concurrent misses on one key load once per process (moka), and once across
//! replicas through a lease in Redis (`SET NX PX` with a token, in the read script): the replica
//! holding it loads and fills L2; the others re-read L2 until the entry appears, the lease is
//! given back (a failed load) or `LEASE` passes. A failed load caches nothing, and every request
//! that waited on it in the process gets the error.
//!
//! Negative answers (no such record) are cached too, briefly (`NEGATIVE_TTL`), and dropped by
//! the create that fills them (it bumps the key's generation).

mod acks;
mod backplane;
mod generations;
pub mod keys;
mod l1;
mod l2;
mod memo;
pub mod settings;
mod shared;
#[cfg(test)]
mod tests;

use std::{
    any::Any,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use tracing::{Instrument, Span, field::Empty};

use crate::{
    platform::error::{Error, Result},
    platform::redis::Redis,
};
use backplane::Backplane;
use keys::{Key, Tag};
use l1::L1;
pub use memo::Memo;
use shared::Shared;

/// How long "no such record" is remembered.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10);

/// A loaded value as single flight shares it: `Option<K::Value>`, typed by the key.
type Loaded = Arc<dyn Any + Send + Sync>;

#[derive(Clone)]
struct Tiers {
    l1: Option<Arc<L1>>,
    shared: Option<Arc<Shared>>,
}

/// The process's cache.
pub struct Cache(Tiers);

impl Cache {
    /// L1 bounded to `max_bytes` (none if 0), in front of L2 on `redis` (with its key prefix)
    /// when given. Must run inside the Tokio runtime (the backplane runs in the background).
    pub fn new(max_bytes: u64, redis: Option<(Arc<Redis>, String)>) -> Cache {
        describe();
        let l1 = (max_bytes > 0).then(|| Arc::new(L1::new(max_bytes)));
        let shared = redis.map(|(kv, prefix)| Shared::new(kv, &prefix, l1.as_ref()));
        Cache(Tiers { l1, shared })
    }

    /// No cache: every read loads.
    pub fn off() -> Cache {
        Cache(Tiers {
            l1: None,
            shared: None,
        })
    }

    /// Waits up to `within` for the backplane to be subscribed (L1 in use in front of L2);
    /// false if it is not, or there is none.
    pub async fn backplane_up(&self, within: Duration) -> bool {
        let Some(backplane) = self.0.shared.as_ref().and_then(|s| s.backplane.as_ref()) else {
            return false;
        };
        let until = Instant::now() + within;
        while !backplane.is_up() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        backplane.is_up()
    }

    /// The cache as one tenant sees it.
    pub fn tenant(&self, slug: &str) -> TenantCache {
        TenantCache {
            tiers: self.0.clone(),
            // A hash tag: one tenant's keys share a Redis Cluster slot.
            prefix: format!("{{t:{slug}}}:"),
        }
    }
}

/// `ttl` ±10%, so entries filled together do not expire together; never past `MAX_TTL`, which
/// the generations outlive (a key type asking for longer is held to it).
fn jittered(ttl: Duration) -> Duration {
    use rand::Rng;
    ttl.mul_f64(rand::rng().random_range(0.9..1.1))
        .min(keys::MAX_TTL)
}

/// A stored value back: `Some(None)` for "no such record"; `None` if it does not decode (an
/// older release's shape): a miss.
fn decode<K: Key>(json: &str) -> Option<Option<K::Value>> {
    match serde_json::from_str(json).ok()? {
        serde_json::Value::Null => Some(None),
        v => K::decode(v).map(Some),
    }
}

/// Runs a load, measured.
async fn measured<V>(load: impl Future<Output = Result<V>>) -> Result<V> {
    let started = Instant::now();
    let loaded = load.await;
    metrics::histogram!("cache_load_duration_seconds").record(started.elapsed().as_secs_f64());
    if loaded.is_err() {
        metrics::counter!("cache_load_errors_total").increment(1);
    }
    loaded
}

/// One tenant's view of the cache: every name it reads or writes starts with the tenant's.
#[derive(Clone)]
pub struct TenantCache {
    tiers: Tiers,
    prefix: String,
}

impl TenantCache {
    fn name(&self, within: &str) -> String {
        format!("{}{within}", self.prefix)
    }

    /// The generations an entry of `key` depends on: its own, its tags', its tenant's.
    fn depends_on<K: Key>(&self, key: &K) -> Vec<String> {
        let mut names = vec![self.name(&key.name())];
        names.extend(
            K::TAGS
                .iter()
                .chain([&Tag::TENANT])
                .map(|t| self.name(t.name())),
        );
        names
    }

    /// The value for `key`, from L1, L2 or `load` (called again if a change overtakes it). A
    /// child span of the request's (`cache get policy`) says which, and holds the load's SQL.
    pub async fn get_or_load<K, F, Fut>(&self, key: &K, load: F) -> Result<Option<K::Value>>
    where
        K: Key,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<K::Value>>> + Send,
    {
        let name = key.name();
        let span = if Span::current().is_none() {
            Span::none()
        } else {
            let kind = name.split(':').next().unwrap_or_default();
            tracing::info_span!(
                "cache",
                otel.name = %format_args!("cache get {kind}"),
                otel.kind = "internal",
                cache.key = %name,
                cache.outcome = Empty,
            )
        };
        let looked = self.lookup(key, load).instrument(span.clone()).await;
        if let Ok((_, outcome)) = &looked {
            span.record("cache.outcome", *outcome);
        }
        looked.map(|(value, _)| value)
    }

    /// Every await that may run the load is on a box: a load's future (a query's, kilobytes)
    /// would otherwise be part of every cache call's state and of every future above it, each
    /// moved whole at each level on every request, hits included (the largest cost in an L1
    /// hit's profile; loadtests/README.md).
    async fn lookup<K, F, Fut>(&self, key: &K, load: F) -> Result<(Option<K::Value>, &'static str)>
    where
        K: Key,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<K::Value>>> + Send,
    {
        let name = self.name(&key.name());
        let depends = self.depends_on(key);
        let Some(shared) = &self.tiers.shared else {
            return match &self.tiers.l1 {
                Some(l1) => self.through_l1::<K, _, _>(l1, &name, &depends, load).await,
                None => Ok((Box::pin(load()).await?, "off")),
            };
        };
        // L1 only while the backplane is up: otherwise another replica's change may be unheard.
        let l1 = self
            .tiers
            .l1
            .as_ref()
            .filter(|_| shared.backplane.as_ref().is_some_and(Backplane::is_up));
        let seen = l1.map(|l1| l1.stamp(&depends));
        if let (Some(l1), Some(seen)) = (l1, &seen)
            && let Some(value) = l1.fresh::<K>(&name, seen).await
        {
            return Ok((value, "l1_hit"));
        }
        let (value, outcome) = Box::pin(shared.get::<K, _, _>(&name, &depends, load)).await?;
        if let (Some(l1), Some(seen)) = (l1, seen) {
            l1.keep::<K>(&name, &depends, value.clone(), seen).await;
        }
        Ok((value, outcome))
    }

    /// L1 alone: moka's single flight per key, stamped with the generations seen before.
    async fn through_l1<K, F, Fut>(
        &self,
        l1: &L1,
        name: &str,
        depends: &[String],
        load: F,
    ) -> Result<(Option<K::Value>, &'static str)>
    where
        K: Key,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<K::Value>>> + Send,
    {
        let seen = l1.stamp(depends);
        if let Some(value) = l1.fresh::<K>(name, &seen).await {
            return Ok((value, "l1_hit"));
        }
        let entry = Box::pin(l1.load::<K, _>(name, seen.clone(), measured(load())))
            .await
            .map_err(|e| Error::shared(&e, "cache load"))?;
        if entry.stamp() != l1.stamp(depends).as_slice() {
            // A change landed while it loaded: keep nothing.
            l1.drop_entry(name).await;
        }
        if entry.stamp() != seen.as_slice() {
            // It joined a load begun before this request's view: not fresh enough for it.
            metrics::counter!("cache_reloads_total").increment(1);
            return Ok((Box::pin(load()).await?, "reload"));
        }
        Ok((entry.value::<K>(), "miss"))
    }

    /// Drops `key`'s entry, for every replica that shares the tier. False if Redis could not
    /// be told (it will be, when it answers again).
    pub async fn forget<K: Key>(&self, key: &K) -> bool {
        self.batch().forget(key).send().await
    }

    /// Drops every entry that carries `tag`; false as for `forget`.
    pub async fn flush(&self, tag: Tag) -> bool {
        self.batch().flush(tag).send().await
    }

    /// Several invalidations, sent together (one Redis round trip).
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            cache: self,
            names: Vec::new(),
        }
    }

    async fn invalidate(&self, names: Vec<String>) -> bool {
        metrics::counter!("cache_invalidations_total").increment(names.len() as u64);
        // L2 first (see the essay).
        let sent = match &self.tiers.shared {
            Some(shared) => shared.invalidate(&self.name("clock"), &names).await,
            None => true,
        };
        if let Some(l1) = &self.tiers.l1 {
            for name in &names {
                l1.bump(name);
            }
        }
        sent
    }
}

/// Invalidations of one tenant, sent together by `send`.
pub struct Batch<'a> {
    cache: &'a TenantCache,
    names: Vec<String>,
}

impl Batch<'_> {
    pub fn forget<K: Key>(mut self, key: &K) -> Self {
        self.names.push(self.cache.name(&key.name()));
        self
    }

    pub fn flush(mut self, tag: Tag) -> Self {
        self.names.push(self.cache.name(tag.name()));
        self
    }

    /// False if Redis could not be told (it will be, when it answers again).
    pub async fn send(self) -> bool {
        self.names.is_empty() || self.cache.invalidate(self.names).await
    }
}

fn describe() {
    metrics::describe_counter!(
        "cache_requests_total",
        "Cache reads by tier (l1, l2) and outcome (hit, miss: absent or stale)"
    );
    metrics::describe_histogram!(
        "cache_load_duration_seconds",
        metrics::Unit::Seconds,
        "Loads from the database on a miss (one per key at a time, across replicas with Redis)"
    );
    metrics::describe_counter!(
        "cache_load_errors_total",
        "Loads that failed (nothing cached)"
    );
    metrics::describe_counter!(
        "cache_reloads_total",
        "Requests that would have joined a load begun before a change, and loaded again"
    );
    metrics::describe_counter!(
        "cache_lease_waits_total",
        "Misses that waited for another replica's load (its lease) instead of loading"
    );
    metrics::describe_counter!(
        "cache_invalidations_total",
        "Keys forgotten and tags flushed by this replica"
    );
    metrics::describe_counter!(
        "cache_invalidations_sent_total",
        "Invalidations published on the backplane (they reached Redis)"
    );
    metrics::describe_counter!(
        "cache_invalidations_received_total",
        "Invalidations from other replicas, applied or ignored (not newer than one seen)"
    );
    metrics::describe_gauge!(
        "cache_invalidations_pending",
        "Invalidations that failed to reach Redis, waiting to be sent again"
    );
    metrics::describe_counter!(
        "cache_evictions_total",
        "Entries evicted to stay within CACHE_L1_MAX_BYTES"
    );
    metrics::describe_gauge!(
        "cache_backplane_up",
        "1 while the backplane subscription is up (L1 in use), else 0 (L1 bypassed)"
    );
    metrics::describe_counter!(
        "cache_backplane_reconnects_total",
        "Times the backplane subscribed again after losing its connection"
    );
    metrics::describe_counter!(
        "cache_backplane_ack_timeouts_total",
        "Invalidations not acknowledged by every other replica within 250 ms"
    );
    metrics::describe_histogram!(
        "cache_l1_bypass_seconds",
        metrics::Unit::Seconds,
        "How long each backplane outage kept L1 bypassed"
    );
    // Counters of rare events start at 0, so their rates (and alerts) have a series at once.
    for rare in [
        "cache_load_errors_total",
        "cache_reloads_total",
        "cache_lease_waits_total",
        "cache_evictions_total",
        "cache_backplane_reconnects_total",
        "cache_backplane_ack_timeouts_total",
    ] {
        metrics::counter!(rare).absolute(0);
    }
}
