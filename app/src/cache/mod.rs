//! The read cache (the seed's `remember(3600)`), in front of the tenant databases. This is its
//! first tier, L1: moka, in the process. The Redis tier, the pub/sub backplane that keeps
//! replicas' L1s in step, and the cluster-wide single flight come next; until they do, the cache
//! is on only without `REDIS_URL` (the embedded, one-instance setup), since an L1 that no other
//! replica can invalidate would serve stale records.
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
#[cfg(test)]
mod tests;

use std::{future::Future, sync::Arc, time::Duration};

use tracing::{Instrument, Span, field::Empty};

use crate::error::{Error, Result};
use keys::{Key, Tag};

/// How long "no such record" is remembered.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10);

/// The process's cache; `None` inside when it is off.
pub struct Cache(Option<Arc<l1::L1>>);

impl Cache {
    /// `max_bytes` bounds L1 by the weight of what it holds; `on` is false while another tier
    /// would be needed to stay correct (see the module's notes).
    pub fn new(max_bytes: u64, on: bool) -> Cache {
        describe();
        Cache(on.then(|| Arc::new(l1::L1::new(max_bytes))))
    }

    /// The cache as one tenant sees it.
    pub fn tenant(&self, slug: &str) -> TenantCache {
        TenantCache {
            l1: self.0.clone(),
            prefix: format!("t:{slug}:"),
        }
    }
}

/// One tenant's view of the cache: every name it reads or writes starts with the tenant's.
#[derive(Clone)]
pub struct TenantCache {
    l1: Option<Arc<l1::L1>>,
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
        let Some(l1) = &self.l1 else {
            return Ok((load().await?, "off"));
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
            .map_err(|e| match e.as_ref() {
                Error::Unavailable(m) => Error::Unavailable(m.clone()),
                other => Error::Internal(format!("cache load: {other}")),
            })?;
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

    /// Drops `key`'s entry everywhere (here: in this process).
    pub fn forget<K: Key>(&self, key: &K) {
        if let Some(l1) = &self.l1 {
            l1.bump(&self.name(&key.name()));
        }
    }

    /// Drops every entry that carries `tag`.
    pub fn flush(&self, tag: Tag) {
        if let Some(l1) = &self.l1 {
            l1.bump(&self.name(tag.name()));
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
}
