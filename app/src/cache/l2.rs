//! L2: Redis, shared by every replica. An entry is stored with its stamp, and the generations
//! live in Redis too, so every replica sees the same ones: a read fetches the entry and the
//! current generations in one script (one round trip), and a fill writes only if the
//! generations are still those the load began under (one script, atomic): a load overtaken by a
//! change never lands, whichever replica made the change.
//!
//! Layout, under `REDIS_PREFIX` and the tenant's hash tag (one Redis Cluster slot per tenant, so
//! the scripts' keys always share a node):
//! - `{prefix}{t:acme}:policy:<id>`: `{"s": [generations…], "v": value or null}`, with its TTL;
//! - `{prefix}gen:{t:acme}:policy:<id>`, `…gen:{t:acme}:tag:policies`: a generation, kept
//!   `KEEP`;
//! - `{prefix}{t:acme}:clock`: the tenant's counter that generations are drawn from, so a value
//!   is never reused even after a generation key expired (no ABA).
//!
//! Every call is bounded by `TIMEOUT`. A read that fails or times out is a miss (the database
//! answers), a fill that fails is skipped, and both are counted and logged: Redis trouble adds at
//! most `TIMEOUT` to a request, never an error.

use std::time::Duration;

use redis::{Script, aio::ConnectionManager};
use serde_json::{Value, json};

use super::generations::KEEP;
use crate::error::{Error, Result};

/// The most a Redis call may take before the cache gives up on it.
const TIMEOUT: Duration = Duration::from_millis(250);

const READ: &str = r"
local g = {}
for i = 2, #KEYS do g[i - 1] = redis.call('GET', KEYS[i]) or '0' end
return {redis.call('GET', KEYS[1]) or '', g}
";

const FILL: &str = r"
for i = 2, #KEYS do
  if (redis.call('GET', KEYS[i]) or '0') ~= ARGV[i + 1] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

const BUMP: &str = r"
local v = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], v, 'PX', ARGV[1])
return v
";

pub struct L2 {
    /// Loads in flight in this process (see `TenantCache::through_l2`).
    pub flights: moka::future::Cache<String, std::sync::Arc<dyn std::any::Any + Send + Sync>>,
    redis: ConnectionManager,
    prefix: String,
    read: Script,
    fill: Script,
    bump: Script,
}

/// What a read found: the stored entry (stamp and value) if any, and the current generations.
pub struct Found {
    pub stored: Option<(Vec<String>, Value)>,
    pub generations: Vec<String>,
}

impl L2 {
    pub fn new(redis: ConnectionManager, prefix: &str) -> L2 {
        L2 {
            flights: moka::future::Cache::builder().build(),
            redis,
            prefix: prefix.to_owned(),
            read: Script::new(READ),
            fill: Script::new(FILL),
            bump: Script::new(BUMP),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    async fn bounded<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T> {
        let started = std::time::Instant::now();
        let outcome = match tokio::time::timeout(TIMEOUT, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Error::Unavailable(format!("redis {what}: {e}"))),
            Err(_) => Err(Error::Unavailable(format!("redis {what}: timed out"))),
        };
        metrics::histogram!("cache_redis_duration_seconds", "op" => what)
            .record(started.elapsed().as_secs_f64());
        if let Err(e) = &outcome {
            metrics::counter!("cache_redis_errors_total", "op" => what).increment(1);
            tracing::warn!(error = %e, "cache: Redis call failed; the database answers");
        }
        outcome
    }

    /// The entry `name` and the generations of `depends`, in one round trip.
    pub async fn read(&self, name: &str, depends: &[String]) -> Result<Found> {
        let mut script = self.read.key(self.key(name));
        for d in depends {
            script.key(self.key(&format!("gen:{d}")));
        }
        let mut redis = self.redis.clone();
        let (raw, generations): (String, Vec<String>) = self
            .bounded("read", script.invoke_async(&mut redis))
            .await?;
        let stored = serde_json::from_str::<Value>(&raw).ok().and_then(|mut v| {
            let stamp = serde_json::from_value(v.get_mut("s")?.take()).ok()?;
            Some((stamp, v.get_mut("v")?.take()))
        });
        Ok(Found {
            stored,
            generations,
        })
    }

    /// Stores `value` under `name` if the generations of `depends` are still `stamp`.
    pub async fn fill(
        &self,
        name: &str,
        depends: &[String],
        stamp: &[String],
        value: Value,
        ttl: Duration,
    ) -> Result<bool> {
        let payload = json!({ "s": stamp, "v": value }).to_string();
        let mut script = self.fill.key(self.key(name));
        for d in depends {
            script.key(self.key(&format!("gen:{d}")));
        }
        script.arg(payload).arg(ttl.as_millis().max(1) as u64);
        for s in stamp {
            script.arg(s);
        }
        let mut redis = self.redis.clone();
        let stored: i64 = self
            .bounded("fill", script.invoke_async(&mut redis))
            .await?;
        Ok(stored == 1)
    }

    /// Gives `name` (a key's or a tag's) a new generation, drawn from the tenant's `clock`.
    pub async fn bump(&self, clock: &str, name: &str) -> Result<()> {
        let mut script = self.bump.key(self.key(clock));
        script
            .key(self.key(&format!("gen:{name}")))
            .arg(KEEP.as_millis() as u64);
        let mut redis = self.redis.clone();
        let _: i64 = self
            .bounded("bump", script.invoke_async(&mut redis))
            .await?;
        Ok(())
    }
}
