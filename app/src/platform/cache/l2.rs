//! L2: Redis, shared by every replica. An entry is stored with its stamp, and the generations
//! live in Redis too, so every replica sees the same ones. Each operation is one script, so one
//! round trip and atomic:
//! - `READ` fetches the entry and the current generations, and says whether the entry is
//!   current (its stamp equals them); on a miss it can also take the key's load lease.
//! - `FILL` stores a loaded value only if the generations are still those the load began under
//!   (a load overtaken by a change never lands, whichever replica made the change), and gives
//!   the lease back.
//! - `BUMP` gives keys and tags new generations, which `shared.rs` then announces on the
//!   backplane channel.
//!
//! Layout, under `REDIS_PREFIX` and the tenant's hash tag (one Redis Cluster slot per tenant, so
//! a script's keys always share a node):
//! - `{prefix}{t:acme}:policy:<id>`: `<stamp>|<json value or null>`, with its TTL, where the
//!   stamp is the generations it was loaded under, comma-separated;
//! - `{prefix}gen:{t:acme}:policy:<id>`, `…gen:{t:acme}:tag:policies`: a generation, kept
//!   `KEEP` (absent reads as 0);
//! - `{prefix}{t:acme}:clock`: the tenant's counter that generations are drawn from, so a value
//!   is never reused even after a generation key expired (no ABA);
//! - `{prefix}lease:{t:acme}:policy:<id>`: the token of the replica loading the key, `LEASE` at
//!   most;
//! - channel `{prefix}invalidations`: `<sender> <ack id>\n<name> <generation>\n…` per bump, and
//!   `{prefix}invalidations:acks:<sender>`: the ids other replicas acknowledge.
//!
//! A failed or refused call (`kv`: timeout, breaker) is a miss: the database answers.

use std::{sync::Arc, time::Duration};

use redis::Script;

use super::generations::KEEP;
use crate::{platform::error::Result, platform::redis::Redis};

/// How long a lease holds a key for its loader; a loader slower than this is loaded beside.
pub const LEASE: Duration = Duration::from_secs(3);

const READ: &str = r"
local g = {}
for i = 3, #KEYS do g[#g + 1] = redis.call('GET', KEYS[i]) or '0' end
local stamp = table.concat(g, ',')
local e = redis.call('GET', KEYS[1])
if e and string.sub(e, 1, #stamp + 1) == stamp .. '|' then
  return {string.sub(e, #stamp + 2), stamp, 0}
end
local leased = 0
if ARGV[1] ~= '' and redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then leased = 1 end
return {'', stamp, leased}
";

const FILL: &str = r"
local g = {}
for i = 3, #KEYS do g[#g + 1] = redis.call('GET', KEYS[i]) or '0' end
local stored = 0
if table.concat(g, ',') == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[3] .. '|' .. ARGV[1], 'PX', ARGV[2])
  stored = 1
end
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
return stored
";

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
";

const BUMP: &str = r"
local g = {}
for i = 2, #KEYS do
  g[i - 1] = redis.call('INCR', KEYS[1])
  redis.call('SET', KEYS[i], g[i - 1], 'PX', ARGV[1])
end
return g
";

/// What a read found.
pub struct Found {
    /// The value (JSON, `null` for "no such record") if the entry is current.
    pub current: Option<String>,
    /// The current generations, comma-separated: the stamp a load started now must carry.
    pub stamp: String,
    /// Whether this read took the key's lease (only when asked to).
    pub leased: bool,
}

pub struct L2 {
    kv: Arc<Redis>,
    prefix: String,
    read: Script,
    fill: Script,
    release: Script,
    bump: Script,
}

impl L2 {
    pub fn new(kv: Arc<Redis>, prefix: &str) -> L2 {
        L2 {
            kv,
            prefix: prefix.to_owned(),
            read: Script::new(READ),
            fill: Script::new(FILL),
            release: Script::new(RELEASE),
            bump: Script::new(BUMP),
        }
    }

    /// Whether Redis is reachable (the breaker is closed).
    pub fn is_up(&self) -> bool {
        self.kv.is_up()
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The backplane's channel.
    pub fn channel(&self) -> String {
        self.key("invalidations")
    }

    fn keyed<'s>(
        &self,
        script: &'s Script,
        name: &str,
        depends: &[String],
    ) -> redis::ScriptInvocation<'s> {
        let mut call = script.key(self.key(name));
        call.key(self.key(&format!("lease:{name}")));
        for d in depends {
            call.key(self.key(&format!("gen:{d}")));
        }
        call
    }

    /// The entry `name` if current for the generations of `depends`; with `lease`, a miss also
    /// tries to take the key's lease under that token.
    pub async fn read(&self, name: &str, depends: &[String], lease: Option<&str>) -> Result<Found> {
        let mut call = self.keyed(&self.read, name, depends);
        call.arg(lease.unwrap_or("")).arg(LEASE.as_millis() as u64);
        let (value, stamp, leased): (String, String, i64) = self
            .kv
            .call("cache_read", |mut c| async move {
                call.invoke_async(&mut c).await
            })
            .await?;
        Ok(Found {
            current: (!value.is_empty()).then_some(value),
            stamp,
            leased: leased == 1,
        })
    }

    /// Stores `value` (JSON) under `name` if the generations are still `stamp`, and gives back
    /// the lease held under `token`. Whether it was stored.
    pub async fn fill(
        &self,
        name: &str,
        depends: &[String],
        stamp: &str,
        token: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let mut call = self.keyed(&self.fill, name, depends);
        call.arg(value)
            .arg(ttl.as_millis().max(1) as u64)
            .arg(stamp)
            .arg(token);
        let stored: i64 = self
            .kv
            .call("cache_fill", |mut c| async move {
                call.invoke_async(&mut c).await
            })
            .await?;
        Ok(stored == 1)
    }

    /// Gives the lease back after a failed load, so another replica's waiter loads at once.
    pub async fn release(&self, name: &str, token: &str) {
        let mut call = self.release.key(self.key(&format!("lease:{name}")));
        call.arg(token);
        let released: Result<i64> = self
            .kv
            .call("cache_release", |mut c| async move {
                call.invoke_async(&mut c).await
            })
            .await;
        // Failed: the lease ends by itself within `LEASE`.
        released.ok();
    }

    /// New generations for `names` (keys' or tags'), drawn from the tenant's `clock`.
    pub async fn bump(&self, clock: &str, names: &[String]) -> Result<Vec<u64>> {
        let mut call = self.bump.key(self.key(clock));
        for name in names {
            call.key(self.key(&format!("gen:{name}")));
        }
        call.arg(KEEP.as_millis() as u64);
        self.kv
            .call("cache_bump", |mut c| async move {
                call.invoke_async(&mut c).await
            })
            .await
    }

    /// Publishes `message` on the backplane channel through any node (no acks awaited).
    pub async fn publish(&self, message: String) -> Result<()> {
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(self.channel()).arg(message);
        let _: i64 = self
            .kv
            .call("cache_publish", |mut c| async move {
                publish.query_async(&mut c).await
            })
            .await?;
        Ok(())
    }
}
