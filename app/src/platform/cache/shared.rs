//! What the replicas share through Redis: reads through L2 (one load per key across the
//! replicas, under a lease), the backplane, and the invalidations that must reach both.
//!
//! An invalidation is two steps: new generations in L2 (`BUMP`), then a message announcing
//! them on the backplane. With the backplane up, the message goes through its own node and the
//! writer waits for every receiver's ack (`acks.rs`); without it (L2 alone, as in the CLI, or
//! the subscription down), through any node, unacknowledged.
//!
//! If either step fails (Redis out of reach), the names are kept and the whole invalidation is
//! sent again every `RESEND_EVERY` until it lands, so another replica's copy cannot stay
//! current past a change just because Redis was briefly out of reach. Beyond `PENDING_MAX`
//! names, each tenant's are collapsed into its `tenant` tag (a whole-tenant flush).

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use super::{
    Loaded, NEGATIVE_TTL,
    backplane::Backplane,
    decode, jittered,
    keys::{Key, Tag},
    l1::L1,
    l2::{L2, LEASE},
    measured,
};
use crate::{
    platform::error::{Error, Result},
    platform::redis::Redis,
};

/// How often invalidations that failed are tried again.
const RESEND_EVERY: Duration = Duration::from_secs(1);

/// Invalidations kept for resending at most.
const PENDING_MAX: usize = 10_000;

pub struct Shared {
    pub l2: L2,
    /// Present when there is an L1 to keep current.
    pub backplane: Option<Backplane>,
    /// Loads in flight in this process, by key and generations.
    pub flights: moka::future::Cache<String, Loaded>,
    /// Who this process is on the backplane.
    sender: String,
    /// Invalidations that failed, by the tenant's clock.
    pending: Mutex<HashMap<String, Vec<String>>>,
}

impl Shared {
    /// L2 on `kv` under `prefix`, with a backplane keeping `l1` current if there is one.
    pub fn new(kv: Arc<Redis>, prefix: &str, l1: Option<&Arc<L1>>) -> Arc<Shared> {
        let l2 = L2::new(kv.clone(), prefix);
        let sender = uuid::Uuid::now_v7().simple().to_string();
        let backplane = l1.map(|l1| Backplane::start(kv, l1.clone(), l2.channel(), sender.clone()));
        let shared = Arc::new(Shared {
            l2,
            backplane,
            flights: moka::future::Cache::builder().build(),
            sender,
            pending: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&shared);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RESEND_EVERY).await;
                let Some(shared) = weak.upgrade() else { break };
                shared.resend().await;
            }
        });
        shared
    }

    /// L2: the entry and the generations in one read; a hit only if they agree; else one load
    /// per key across the replicas, stored only if no change overtook it.
    pub async fn get<K, F, Fut>(
        &self,
        name: &str,
        depends: &[String],
        load: F,
    ) -> Result<(Option<K::Value>, &'static str)>
    where
        K: Key,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<K::Value>>> + Send,
    {
        let Ok(found) = self.l2.read(name, depends, None).await else {
            // Redis is out of reach (counted and logged by `kv`): the database answers.
            return Ok((measured(load()).await?, "bypass"));
        };
        let hit = found.current.as_deref().and_then(decode::<K>);
        let outcome = if hit.is_some() { "hit" } else { "miss" };
        metrics::counter!("cache_requests_total", "tier" => "l2", "outcome" => outcome)
            .increment(1);
        if let Some(value) = hit {
            return Ok((value, "l2_hit"));
        }
        // Requests that saw the same generations share one load; one that saw newer ones does
        // not join an older load.
        let flight = format!("{name}@{}", found.stamp);
        let loaded = self
            .flights
            .try_get_with(
                flight.clone(),
                Self::lead::<K, _, _>(&self.l2, name, depends, &load),
            )
            .await;
        self.flights.invalidate(&flight).await;
        let loaded = loaded.map_err(|e| Error::shared(&e, "cache load"))?;
        let value = match loaded.downcast_ref::<Option<K::Value>>() {
            Some(value) => value.clone(),
            None => load().await?,
        };
        Ok((value, "miss"))
    }

    /// This process's load of a missed key: under the key's lease, or after another replica's
    /// load filled L2.
    async fn lead<K, F, Fut>(l2: &L2, name: &str, depends: &[String], load: &F) -> Result<Loaded>
    where
        K: Key,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<K::Value>>> + Send,
    {
        let token = uuid::Uuid::now_v7().simple().to_string();
        let give_up = Instant::now() + LEASE;
        let mut pause = Duration::from_millis(2);
        let mut waited = false;
        loop {
            let Ok(found) = l2.read(name, depends, Some(&token)).await else {
                return Ok(Arc::new(measured(load()).await?));
            };
            if let Some(value) = found.current.as_deref().and_then(decode::<K>) {
                return Ok(Arc::new(value));
            }
            if found.leased || Instant::now() >= give_up {
                let value = match measured(load()).await {
                    Ok(value) => value,
                    Err(e) => {
                        l2.release(name, &token).await;
                        return Err(e);
                    }
                };
                let (stored, ttl) = match &value {
                    Some(v) => (K::encode(v).to_string(), jittered(K::TTL)),
                    None => ("null".to_owned(), NEGATIVE_TTL),
                };
                // Refused if a change overtook the load; a Redis failure is counted by `kv`.
                l2.fill(name, depends, &found.stamp, &token, &stored, ttl)
                    .await
                    .ok();
                return Ok(Arc::new(value));
            }
            if !waited {
                waited = true;
                metrics::counter!("cache_lease_waits_total").increment(1);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<String, Vec<String>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bumps `names` of the tenant whose clock is `clock`, and announces it; false if Redis
    /// could not be told (it will be, later).
    pub async fn invalidate(&self, clock: &str, names: &[String]) -> bool {
        let done = match self.l2.bump(clock, names).await {
            Ok(generations) => self.announce(names, &generations).await,
            Err(_) => false,
        };
        if !done {
            self.keep(clock, names);
        }
        done
    }

    async fn announce(&self, names: &[String], generations: &[u64]) -> bool {
        let body = names
            .iter()
            .zip(generations)
            .map(|(name, generation)| format!("{name} {generation}"))
            .collect::<Vec<_>>()
            .join("\n");
        let published = match self.backplane.as_ref().filter(|b| b.is_up()) {
            Some(backplane) => backplane.publish(&body).await,
            None => {
                let message = format!("{} 0\n{body}", self.sender);
                self.l2.publish(message).await.is_ok()
            }
        };
        if published {
            metrics::counter!("cache_invalidations_sent_total").increment(names.len() as u64);
        }
        published
    }

    fn keep(&self, clock: &str, names: &[String]) {
        let mut pending = self.pending();
        pending
            .entry(clock.to_owned())
            .or_default()
            .extend(names.iter().cloned());
        if pending.values().map(Vec::len).sum::<usize>() > PENDING_MAX {
            for (clock, names) in pending.iter_mut() {
                let tenant = clock.trim_end_matches("clock");
                *names = vec![format!("{tenant}{}", Tag::TENANT.name())];
            }
        }
        metrics::gauge!("cache_invalidations_pending")
            .set(pending.values().map(Vec::len).sum::<usize>() as f64);
    }

    /// Sends the invalidations that failed, once Redis answers again.
    async fn resend(&self) {
        if !self.l2.is_up() {
            return;
        }
        let pending = std::mem::take(&mut *self.pending());
        for (clock, mut names) in pending {
            names.sort();
            names.dedup();
            tracing::info!(
                count = names.len(),
                "cache: sending invalidations that failed while Redis was out of reach"
            );
            self.invalidate(&clock, &names).await;
        }
        let left = self.pending().values().map(Vec::len).sum::<usize>();
        metrics::gauge!("cache_invalidations_pending").set(left as f64);
    }
}
