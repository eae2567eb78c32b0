//! The queue in Redis: keys, and the scripts that move a job between them atomically.
//!
//! Per tenant `t` and queue `q` (`high`, `default`), under `QUEUE_PREFIX` (`p`):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `p{t}_q` | list | jobs ready to run, oldest first |
//! | `p{t}_q:delayed` | sorted set | jobs waiting to retry, scored by when they may run (ms) |
//! | `p{t}_q:reserved` | sorted set | jobs a worker runs, scored by their lease's deadline (ms) |
//! | `p{t}:unique` | hash | unique key → time queued, while such a job waits |
//!
//! `{t}` is a Redis Cluster hash tag: all of a tenant's keys share a slot, so every script
//! touches one node. An entry is `attempts|unique key|job JSON`: the script that reserves a job
//! counts the try by rewriting the prefix, never re-encoding the JSON (Laravel's script decodes
//! and re-encodes it with cjson, which may round big numbers).
//!
//! - **push**: the jobs onto their lists (or `:delayed`), each unless its unique key is held;
//!   then, if a list was empty, `PUBLISH pwake t`, which puts the tenant in every worker's
//!   rotation. (A list that was not empty is in them already: a worker drops a tenant only when
//!   it finds its lists empty. Delayed jobs are found by the workers' poll.)
//! - **reserve**: pops the oldest job of `high`, else of `default`, counts the try, and adds it
//!   to `:reserved` with a deadline of now + that queue's `retry_after`. Nothing else: it runs
//!   once per job, so it is kept to three calls.
//! - **requeue** (each worker's poll, every `WORKER_POLL_MS` per tenant): moves due `:delayed`
//!   jobs to the back of their list and expired `:reserved` ones (their worker died) to the
//!   front, and says how many are ready. (Laravel migrates before every pop: two more sorted-set
//!   scans per job, which doubled the cost of a reserve here.)
//! - **renew** (`ZADD XX`): pushes a running job's deadline on; a live long job is never handed
//!   out again. Answers 0 when the job is no longer ours (its lease ran out and it went back).
//! - **ack** (`ZREM`), **retry** (reserved → delayed), **release** (reserved → front of the list,
//!   the try uncounted: a worker stopping gives back what it cannot finish).

use std::sync::Arc;

use redis::Script;

use super::job::{Job, Priority};
use crate::{platform::db::now_ms, platform::error::Result, platform::redis::Redis};

const PUSH: &str = r"
local pushed, woke = 0, false
for i = 4, #ARGV, 4 do
  local q, at, u, body = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3]
  if u == '' or redis.call('HSETNX', KEYS[5], u, ARGV[3]) == 1 then
    local entry = '0|' .. u .. '|' .. body
    if at > tonumber(ARGV[3]) then
      redis.call('ZADD', KEYS[q * 2 + 2], at, entry)
    elseif redis.call('RPUSH', KEYS[q * 2 + 1], entry) == 1 then
      woke = true
    end
    pushed = pushed + 1
  end
end
if woke then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return pushed
";

const RESERVE: &str = r"
for q = 0, 1 do
  local entry = redis.call('LPOP', KEYS[q * 2 + 1])
  if entry then
    -- `tries|unique|json`; anything else is taken as a job's JSON, to fail when read.
    local bar = string.find(entry, '|', 1, true)
    local tries, rest = 0, '|' .. entry
    if bar then tries, rest = tonumber(string.sub(entry, 1, bar - 1)) or 0, string.sub(entry, bar + 1) end
    local second = string.find(rest, '|', 1, true)
    local u = second and string.sub(rest, 1, second - 1) or ''
    if u ~= '' then redis.call('HDEL', KEYS[5], u) end
    local held = (tries + 1) .. '|' .. rest
    redis.call('ZADD', KEYS[q * 2 + 2], tonumber(ARGV[1]) + tonumber(ARGV[q + 2]), held)
    return {q, held}
  end
end
return false
";

const REQUEUE: &str = r"
local now, ready = tonumber(ARGV[1]), 0
for q = 0, 1 do
  local list, delayed, reserved = KEYS[q * 3 + 1], KEYS[q * 3 + 2], KEYS[q * 3 + 3]
  for _, entry in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 1000)) do
    redis.call('ZREM', delayed, entry)
    redis.call('RPUSH', list, entry)
  end
  for _, entry in ipairs(redis.call('ZRANGEBYSCORE', reserved, '-inf', now, 'LIMIT', 0, 1000)) do
    redis.call('ZREM', reserved, entry)
    redis.call('LPUSH', list, entry)
  end
  ready = ready + redis.call('LLEN', list)
end
return ready
";

const RETRY: &str = r"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  return 1
end
return 0
";

const RELEASE: &str = r"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  local tries, rest = string.match(ARGV[1], '^(%d+)|(.*)$')
  if tries then
    redis.call('LPUSH', KEYS[2], math.max(tonumber(tries) - 1, 0) .. '|' .. rest)
  else
    redis.call('LPUSH', KEYS[2], ARGV[1])
  end
  return 1
end
return 0
";

/// A job a worker holds: its entry in `:reserved` is its lease.
#[derive(Debug, Clone)]
pub struct Reserved {
    pub tenant: String,
    pub priority: Priority,
    /// The entry as it is in `:reserved`.
    pub entry: String,
    /// Tries so far, this one included.
    pub attempts: u32,
    /// The job, or why its JSON cannot be read (it goes straight to failed jobs).
    pub job: std::result::Result<Job, String>,
}

impl Reserved {
    fn parse(tenant: &str, priority: Priority, entry: String) -> Reserved {
        let mut parts = entry.splitn(3, '|');
        let attempts = parts.next().and_then(|a| a.parse().ok()).unwrap_or(1);
        let body = parts.nth(1).unwrap_or_default();
        let job = serde_json::from_str::<Job>(body).map_err(|e| format!("unreadable job: {e}"));
        Reserved {
            tenant: tenant.to_owned(),
            priority,
            attempts,
            job,
            entry,
        }
    }

    /// The job's JSON (for failed jobs).
    pub fn payload(&self) -> &str {
        self.entry.splitn(3, '|').nth(2).unwrap_or(&self.entry)
    }
}

/// One queue's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub ready: u64,
    pub delayed: u64,
    pub reserved: u64,
}

pub struct RedisQueue {
    kv: Arc<Redis>,
    prefix: String,
    push: Script,
    reserve: Script,
    requeue: Script,
    retry: Script,
    release: Script,
}

impl RedisQueue {
    pub fn new(kv: Arc<Redis>, prefix: &str) -> RedisQueue {
        RedisQueue {
            kv,
            prefix: prefix.to_owned(),
            push: Script::new(PUSH),
            reserve: Script::new(RESERVE),
            requeue: Script::new(REQUEUE),
            retry: Script::new(RETRY),
            release: Script::new(RELEASE),
        }
    }

    pub fn kv(&self) -> &Arc<Redis> {
        &self.kv
    }

    /// The tenant's queue list, e.g. `policy_service_queues:{acme}_high`.
    pub fn list(&self, tenant: &str, priority: Priority) -> String {
        format!("{}{{{tenant}}}_{}", self.prefix, priority.as_str())
    }

    fn delayed(&self, tenant: &str, priority: Priority) -> String {
        format!("{}:delayed", self.list(tenant, priority))
    }

    fn reserved(&self, tenant: &str, priority: Priority) -> String {
        format!("{}:reserved", self.list(tenant, priority))
    }

    fn unique(&self, tenant: &str) -> String {
        format!("{}{{{tenant}}}:unique", self.prefix)
    }

    /// The channel a push announces its tenant on.
    pub fn wake_channel(&self) -> String {
        format!("{}wake", self.prefix)
    }

    /// Queues `jobs` (all of `tenant`), in one round trip; how many were queued (a job whose
    /// unique key is held is not). `delay_ms` > 0 queues them as delayed.
    pub async fn push(&self, tenant: &str, jobs: &[Job], delay_ms: i64) -> Result<u64> {
        let now = now_ms();
        let mut call = self.push.prepare_invoke();
        for p in Priority::ALL {
            call.key(self.list(tenant, p)).key(self.delayed(tenant, p));
        }
        call.key(self.unique(tenant))
            .arg(self.wake_channel())
            .arg(tenant)
            .arg(now);
        for job in jobs {
            call.arg(job.task.priority.index())
                .arg(now + delay_ms)
                .arg(&job.task.unique)
                .arg(job.to_json());
        }
        self.kv
            .call("queue_push", |mut c| async move {
                call.invoke_async(&mut c).await
            })
            .await
    }

    /// Takes the tenant's next job, `high` first; `retry_after` by priority.
    pub async fn reserve(
        &self,
        tenant: &str,
        retry_after_ms: [u64; 2],
    ) -> Result<Option<Reserved>> {
        let mut call = self.reserve.prepare_invoke();
        for p in Priority::ALL {
            call.key(self.list(tenant, p)).key(self.reserved(tenant, p));
        }
        call.key(self.unique(tenant))
            .arg(now_ms())
            .arg(retry_after_ms[0])
            .arg(retry_after_ms[1]);
        let got: Option<(usize, String)> = self
            .kv
            .call("queue_reserve", |mut c| async move {
                call.invoke_async(&mut c).await
            })
            .await?;
        Ok(got.map(|(q, entry)| {
            let priority = if q == 0 {
                Priority::High
            } else {
                Priority::Default
            };
            Reserved::parse(tenant, priority, entry)
        }))
    }

    /// Puts the tenant's due retries and expired leases back in line; how many jobs are ready.
    pub async fn requeue(&self, tenant: &str) -> Result<u64> {
        let mut call = self.requeue.prepare_invoke();
        for p in Priority::ALL {
            call.key(self.list(tenant, p))
                .key(self.delayed(tenant, p))
                .key(self.reserved(tenant, p));
        }
        call.arg(now_ms());
        self.kv
            .call("queue_requeue", |mut c| async move {
                call.invoke_async(&mut c).await
            })
            .await
    }

    /// Extends the lease to `deadline_ms`; false if the job is no longer reserved by us.
    pub async fn renew(&self, job: &Reserved, deadline_ms: i64) -> Result<bool> {
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(self.reserved(&job.tenant, job.priority))
            .arg("XX")
            .arg("CH")
            .arg(deadline_ms)
            .arg(&job.entry);
        let changed: i64 = self
            .kv
            .call("queue_renew", |mut c| async move {
                zadd.query_async(&mut c).await
            })
            .await?;
        Ok(changed == 1)
    }

    /// Done: drops the job; false if it was no longer ours (its lease had run out).
    pub async fn ack(&self, job: &Reserved) -> Result<bool> {
        let mut zrem = redis::cmd("ZREM");
        zrem.arg(self.reserved(&job.tenant, job.priority))
            .arg(&job.entry);
        let removed: i64 = self
            .kv
            .call("queue_ack", |mut c| async move {
                zrem.query_async(&mut c).await
            })
            .await?;
        Ok(removed == 1)
    }

    /// Failed, to be tried again at `at_ms`.
    pub async fn retry(&self, job: &Reserved, at_ms: i64) -> Result<bool> {
        let mut call = self.retry.prepare_invoke();
        call.key(self.reserved(&job.tenant, job.priority))
            .key(self.delayed(&job.tenant, job.priority))
            .arg(&job.entry)
            .arg(at_ms);
        let moved: i64 = self
            .kv
            .call("queue_retry", |mut c| async move {
                call.invoke_async(&mut c).await
            })
            .await?;
        Ok(moved == 1)
    }

    /// Not run (the worker is stopping): back to the front of its list, the try uncounted.
    pub async fn release(&self, job: &Reserved) -> Result<bool> {
        let mut call = self.release.prepare_invoke();
        call.key(self.reserved(&job.tenant, job.priority))
            .key(self.list(&job.tenant, job.priority))
            .arg(&job.entry);
        let moved: i64 = self
            .kv
            .call("queue_release", |mut c| async move {
                call.invoke_async(&mut c).await
            })
            .await?;
        Ok(moved == 1)
    }

    /// The tenant's two queues' counts, `high` first, in one round trip.
    pub async fn depth(&self, tenant: &str) -> Result<[Depth; 2]> {
        let mut pipe = redis::pipe();
        for p in Priority::ALL {
            pipe.cmd("LLEN")
                .arg(self.list(tenant, p))
                .cmd("ZCARD")
                .arg(self.delayed(tenant, p))
                .cmd("ZCARD")
                .arg(self.reserved(tenant, p));
        }
        let n: Vec<u64> = self
            .kv
            .call("queue_depth", |mut c| async move {
                pipe.query_async(&mut c).await
            })
            .await?;
        let at = |i: usize| n.get(i).copied().unwrap_or(0);
        Ok([0, 1].map(|q| Depth {
            ready: at(q * 3),
            delayed: at(q * 3 + 1),
            reserved: at(q * 3 + 2),
        }))
    }
}
