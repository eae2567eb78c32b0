//! The read cache (the seed's `remember(3600)`), in front of the tenant databases, in one of two
//! tiers for now:
//! - without `REDIS_URL` (one instance, the embedded setup): L1, moka in the process (`l1.rs`);
//! - with it: L2, Redis, shared by every replica (`l2.rs`), its generations in Redis too, so a
//!   change made through any replica is seen by all at once.
//!
//! L1 in front of L2 needs the pub/sub backplane that tells every replica to drop its copy; until
//! that lands, a replica with Redis reads L2 only (an L1 no other replica can invalidate would
//! serve stale records).
//!
//! Data structures:
//! - **typed keys** (`keys.rs`): a key type names its value type, its tags and its TTL, and is
//!   always read through a `TenantCache`, which puts the tenant in front of every name
//!   (`t:acme:policy:0192…`). No handler builds a key string, and no key crosses tenants.
//! - **generations** (`generations.rs`): a counter per key and per tag, whose values are never
//!   reused. `forget` bumps a key's, `flush` a tag's (every key of a tenant carries the tag
//!   `tenant`): O(1), and no set of members to grow or leak.
//! - **entries** (`l1.rs`): the value, its weight (bounded by `CACHE_L1_MAX_BYTES`), its TTL with
//!   jitter, and its *stamp*: the generations of its key and tags when its load began.
//!
//! An entry is served only while its stamp equals the current generations. That closes, without
//! clocks, the race of every two-tier cache: a load that began before an invalidation must not
//! be served after it. Such a load's stamp is older than the bumped generation, so its entry is
//! dropped on sight (and not kept in the first place, when the change lands mid-load). A request
//! that joins a load begun before its own view of the generations (single flight) does not take
//! that load's value: it loads again itself.
//!
//! Negative answers (no such record) are cached too, briefly (`NEGATIVE_TTL`). A failed load
//! caches nothing, and every request that waited on it gets the error.

mod generations;
pub mod keys;
mod l1;
mod l2;
#[cfg(test)]
mod tests;

use std::{future::Future, sync::Arc, time::Duration};

use tracing::{Instrument, Span, field::Empty};

use crate::error::{Error, Result};
use keys::{Key, Tag};

/// How long "no such record" is remembered.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10);

/// Which tier serves reads.
#[derive(Clone)]
enum Tier {
    Off,
    L1(Arc<l1::L1>),
    L2(Arc<l2::L2>),
}

/// The process's cache.
pub struct Cache(Tier);

impl Cache {
    /// L2 on `redis` (with its key prefix) when given; else L1, bounded to `max_bytes`.
    pub fn new(max_bytes: u64, redis: Option<(redis::aio::ConnectionManager, String)>) -> Cache {
        describe();
        Cache(match redis {
            Some((redis, prefix)) => Tier::L2(Arc::new(l2::L2::new(redis, &prefix))),
            None => Tier::L1(Arc::new(l1::L1::new(max_bytes))),
        })
    }

    /// No cache: every read loads.
    pub fn off() -> Cache {
        Cache(Tier::Off)
    }

    /// The cache as one tenant sees it.
    pub fn tenant(&self, slug: &str) -> TenantCache {
        TenantCache {
            tier: self.0.clone(),
            // A hash tag: one tenant's keys share a Redis Cluster slot.
            prefix: format!("{{t:{slug}}}:"),
        }
    }
}

/// `ttl` ±10%, so entries filled together do not expire together.
fn jittered(ttl: Duration) -> Duration {
    use rand::Rng;
    ttl.mul_f64(rand::rng().random_range(0.9..1.1))
}

/// One tenant's view of the cache: every name it reads or writes starts with the tenant's.
#[derive(Clone)]
pub struct TenantCache {
    tier: Tier,
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
                .chain([&Tag::Tenant])
                .map(|t| self.name(t.name())),
        );
        names
    }

    /// The value for `key`, from L1 or from `load` (called again if a change overtakes it). A
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

    async fn lookup<K, F, Fut>(&self, key: &K, load: F) -> Result<(Option<K::Value>, &'static str)>
    where
        K: Key,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<K::Value>>> + Send,
    {
        let l1 = match &self.tier {
            Tier::Off => return Ok((load().await?, "off")),
            Tier::L2(l2) => return self.through_l2(l2, key, load).await,
            Tier::L1(l1) => l1,
        };
        let name = self.name(&key.name());
        let depends = self.depends_on(key);
        let seen = l1.stamp(&depends);
        if let Some(value) = l1.fresh::<K>(&name, &seen).await {
            return Ok((value, "hit"));
        }
        let entry = l1
            .load::<K, _>(&name, seen.clone(), load())
            .await
            .map_err(|e| Error::shared(&e, "cache load"))?;
        let now = l1.stamp(&depends);
        if entry.stamp() != now.as_slice() {
            // A change landed while it loaded: keep nothing.
            l1.drop_entry(&name).await;
        }
        if entry.stamp() != seen.as_slice() {
            // It joined a load begun before this request's view: not fresh enough for it.
            metrics::counter!("cache_reloads_total").increment(1);
            return Ok((load().await?, "reload"));
        }
        Ok((entry.value::<K>(), "miss"))
    }

    /// L2: the entry and the generations in one read; a hit only if they agree; else a load,
    /// stored only if no change overtook it.
    async fn through_l2<K, F, Fut>(
        &self,
        l2: &l2::L2,
        key: &K,
        load: F,
    ) -> Result<(Option<K::Value>, &'static str)>
    where
        K: Key,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<K::Value>>> + Send,
    {
        let name = self.name(&key.name());
        let depends = self.depends_on(key);
        let Ok(found) = l2.read(&name, &depends).await else {
            return Ok((load().await?, "bypass"));
        };
        let hit = found
            .stored
            .filter(|(stamp, _)| *stamp == found.generations)
            .and_then(|(_, v)| {
                if v.is_null() {
                    Some(None)
                } else {
                    K::decode(v).map(Some)
                }
            });
        let outcome = if hit.is_some() { "hit" } else { "miss" };
        metrics::counter!("cache_requests_total", "tier" => "l2", "outcome" => outcome)
            .increment(1);
        if let Some(value) = hit {
            return Ok((value, "hit"));
        }
        // One load per key and generations in this process: requests that saw the same
        // generations share it; one that saw newer ones does not join an older load.
        let flight = format!("{name}@{}", found.generations.join(","));
        let shared = l2
            .flights
            .try_get_with(flight.clone(), async {
                let started = std::time::Instant::now();
                let value = load().await;
                metrics::histogram!("cache_load_duration_seconds")
                    .record(started.elapsed().as_secs_f64());
                let value = value
                    .inspect_err(|_| metrics::counter!("cache_load_errors_total").increment(1))?;
                let (stored, ttl) = match &value {
                    Some(v) => (K::encode(v), jittered(K::TTL)),
                    None => (serde_json::Value::Null, NEGATIVE_TTL),
                };
                // Refused if a change overtook the load; a Redis failure is logged and counted.
                l2.fill(&name, &depends, &found.generations, stored, ttl)
                    .await
                    .ok();
                Ok::<_, Error>(Arc::new(value) as Arc<dyn std::any::Any + Send + Sync>)
            })
            .await;
        l2.flights.invalidate(&flight).await;
        let shared = shared.map_err(|e| Error::shared(&e, "cache load"))?;
        let value = match shared.downcast_ref::<Option<K::Value>>() {
            Some(value) => value.clone(),
            None => load().await?,
        };
        Ok((value, "miss"))
    }

    /// Drops `key`'s entry, for every replica that shares the tier.
    pub async fn forget<K: Key>(&self, key: &K) {
        self.bump(&self.name(&key.name())).await;
    }

    /// Drops every entry that carries `tag`.
    pub async fn flush(&self, tag: Tag) {
        self.bump(&self.name(tag.name())).await;
    }

    async fn bump(&self, name: &str) {
        metrics::counter!("cache_invalidations_total").increment(1);
        match &self.tier {
            Tier::Off => {}
            Tier::L1(l1) => l1.bump(name),
            Tier::L2(l2) => {
                // Failed: counted and logged by L2; the entry ages out with its TTL.
                l2.bump(&self.name("clock"), name).await.ok();
            }
        }
    }
}

fn describe() {
    metrics::describe_counter!(
        "cache_requests_total",
        "Cache reads by tier and outcome (hit, miss: absent or stale)"
    );
    metrics::describe_histogram!(
        "cache_load_duration_seconds",
        metrics::Unit::Seconds,
        "Loads on a miss (one per key at a time)"
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
        "cache_invalidations_total",
        "Keys forgotten and tags flushed"
    );
    metrics::describe_counter!(
        "cache_evictions_total",
        "Entries evicted to stay within CACHE_L1_MAX_BYTES"
    );
    metrics::describe_histogram!(
        "cache_redis_duration_seconds",
        metrics::Unit::Seconds,
        "Redis calls of the cache by operation (read, fill, bump)"
    );
    metrics::describe_counter!(
        "cache_redis_errors_total",
        "Redis calls of the cache that failed or timed out (the database answered)"
    );
}
