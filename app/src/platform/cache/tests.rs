//! The cache's promises, each against real moka and real concurrency.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::Notify;

use super::{
    Cache,
    keys::{Key, Tag},
};
use crate::{
    platform::error::{Error, Result},
    platform::redis::Redis,
};

struct Num(&'static str);

const NUMS: Tag = Tag::new("tag:nums");

impl Key for Num {
    type Value = u64;
    const TAGS: &'static [Tag] = &[NUMS];
    const TTL: Duration = Duration::from_secs(60);

    fn name(&self) -> String {
        format!("num:{}", self.0)
    }

    fn weight(_: &u64) -> u32 {
        8
    }

    fn encode(value: &u64) -> serde_json::Value {
        (*value).into()
    }

    fn decode(stored: serde_json::Value) -> Option<u64> {
        stored.as_u64()
    }
}

/// The Redis timeout of these tests: they count loads and stale reads, which a call timed out
/// by a busy machine (not by Redis) would change.
const PATIENT_REDIS: Duration = Duration::from_secs(5);

/// The machine's Redis, under a prefix of the test's own.
async fn redis() -> (Arc<Redis>, String) {
    let kv = Redis::open("redis://127.0.0.1:6379", false, PATIENT_REDIS, None).expect("redis url");
    assert!(
        kv.wait_up(Duration::from_secs(30)).await,
        "the machine's Redis at 127.0.0.1:6379"
    );
    (kv, format!("pstest:{}:", uuid::Uuid::now_v7()))
}

/// Every arrangement: L1 alone, L2 alone, and L1 in front of L2 (its backplane up).
async fn tiers() -> Vec<(&'static str, Cache)> {
    let both = Cache::new(1 << 20, Some(redis().await));
    assert!(
        both.backplane_up(Duration::from_secs(30)).await,
        "backplane"
    );
    vec![
        ("l1", Cache::new(1 << 20, None)),
        ("l2", Cache::new(0, Some(redis().await))),
        ("l1+l2", both),
    ]
}

/// A loader that counts its calls and answers with the count.
fn counting(loads: &Arc<AtomicU64>) -> impl Fn() -> std::future::Ready<Result<Option<u64>>> {
    let loads = loads.clone();
    move || std::future::ready(Ok(Some(loads.fetch_add(1, Ordering::SeqCst) + 1)))
}

#[tokio::test]
async fn hits_after_one_load_and_forget_reloads() {
    for (tier, cache) in tiers().await {
        let t = cache.tenant("a");
        let loads = Arc::new(AtomicU64::new(0));
        for _ in 0..3 {
            let got = t.get_or_load(&Num("x"), counting(&loads)).await.ok();
            assert_eq!(got, Some(Some(1)), "{tier}");
        }
        t.forget(&Num("x")).await;
        let got = t.get_or_load(&Num("x"), counting(&loads)).await.ok();
        assert_eq!(got, Some(Some(2)), "{tier}");
        t.flush(NUMS).await;
        let got = t.get_or_load(&Num("x"), counting(&loads)).await.ok();
        assert_eq!(got, Some(Some(3)), "{tier}");
    }
}

#[tokio::test]
async fn concurrent_misses_load_once() {
    for (tier, cache) in tiers().await {
        let t = cache.tenant("a");
        let loads = Arc::new(AtomicU64::new(0));
        let slow = || {
            let loads = loads.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(Some(loads.fetch_add(1, Ordering::SeqCst) + 1))
            }
        };
        let all = futures::future::join_all((0..50).map(|_| t.get_or_load(&Num("cold"), slow)));
        let all = all.await;
        assert!(all.iter().all(|r| matches!(r, Ok(Some(1)))), "{tier}");
        assert_eq!(loads.load(Ordering::SeqCst), 1, "{tier}");
    }
}

/// A load that began before an invalidation is neither kept nor handed to a request that
/// began after it.
#[tokio::test]
async fn a_load_overtaken_by_a_change_is_not_served_after_it() {
    for (tier, cache) in tiers().await {
        let t = cache.tenant("a");
        let gate = Arc::new(Notify::new());
        let calls = Arc::new(AtomicU64::new(0));
        let load = || {
            let (gate, calls) = (gate.clone(), calls.clone());
            async move {
                // The first load reads the old value and is held until the change has landed.
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    gate.notified().await;
                    Ok(Some(1))
                } else {
                    Ok(Some(2))
                }
            }
        };
        let early = t.get_or_load(&Num("p"), load);
        tokio::pin!(early);
        // Start the early load (drive it until its loader runs, however slow the machine),
        // then change the record and invalidate, as a write would.
        while calls.load(Ordering::SeqCst) == 0 {
            let started = tokio::time::timeout(Duration::from_millis(10), &mut early).await;
            assert!(started.is_err(), "{tier}");
        }
        t.forget(&Num("p")).await;
        // A request after the change must not get the early load's old value.
        let late = t.get_or_load(&Num("p"), load);
        gate.notify_one();
        let (early, late) = tokio::join!(early, late);
        assert_eq!(
            early.ok(),
            Some(Some(1)),
            "{tier}: it may see what it began with"
        );
        assert_eq!(
            late.ok(),
            Some(Some(2)),
            "{tier}: a request after the change sees it"
        );
        // And the old value was not kept.
        let again = t.get_or_load(&Num("p"), load).await.ok();
        assert_eq!(again, Some(Some(2)), "{tier}");
    }
}

#[tokio::test]
async fn tenants_never_share_entries_and_flush_alone() {
    for (tier, cache) in tiers().await {
        let (a, b) = (cache.tenant("a"), cache.tenant("b"));
        let (la, lb) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(100)));
        let same = Num("same");
        assert_eq!(
            a.get_or_load(&same, counting(&la)).await.ok(),
            Some(Some(1)),
            "{tier}"
        );
        assert_eq!(
            b.get_or_load(&same, counting(&lb)).await.ok(),
            Some(Some(101)),
            "{tier}"
        );
        a.flush(Tag::TENANT).await;
        assert_eq!(
            a.get_or_load(&same, counting(&la)).await.ok(),
            Some(Some(2)),
            "{tier}"
        );
        assert_eq!(
            b.get_or_load(&same, counting(&lb)).await.ok(),
            Some(Some(101)),
            "{tier}"
        );
    }
}

#[tokio::test]
async fn failures_are_not_cached_and_absence_is() {
    for (tier, cache) in tiers().await {
        let t = cache.tenant("a");
        let failing = || std::future::ready(Err(Error::Unavailable("database busy".into())));
        assert!(t.get_or_load(&Num("f"), failing).await.is_err(), "{tier}");
        let loads = Arc::new(AtomicU64::new(0));
        let got = t.get_or_load(&Num("f"), counting(&loads)).await.ok();
        assert_eq!(got, Some(Some(1)), "{tier}");

        let absent_loads = Arc::new(AtomicU64::new(0));
        let absent = || {
            absent_loads.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok(None))
        };
        for _ in 0..3 {
            assert_eq!(
                t.get_or_load(&Num("none"), absent).await.ok(),
                Some(None),
                "{tier}"
            );
        }
        let n = absent_loads.load(Ordering::SeqCst);
        assert_eq!(n, 1, "{tier}: no such record is remembered");
    }
}

#[tokio::test]
async fn an_off_cache_always_loads() {
    let t = Cache::off().tenant("a");
    let loads = Arc::new(AtomicU64::new(0));
    for n in 1..=3 {
        assert_eq!(
            t.get_or_load(&Num("x"), counting(&loads)).await.ok(),
            Some(Some(n))
        );
    }
}

/// Two instances sharing Redis, each with L1 in front: a change made and invalidated through one
/// is what the other reads next, every time (the invalidation returns once the other acked).
#[tokio::test]
async fn replicas_sharing_redis_never_read_stale() {
    let (kv, prefix) = redis().await;
    let caches = [
        Cache::new(1 << 20, Some((kv.clone(), prefix.clone()))),
        Cache::new(1 << 20, Some((kv, prefix))),
    ];
    for c in &caches {
        assert!(c.backplane_up(Duration::from_secs(30)).await, "backplane");
    }
    let (one, two) = (caches[0].tenant("a"), caches[1].tenant("a"));
    let database = Arc::new(AtomicU64::new(0));
    let read = || {
        let database = database.clone();
        async move { Ok(Some(database.load(Ordering::SeqCst))) }
    };
    let mut stale = 0;
    for i in 0..1_000u64 {
        let (writer, reader) = if i % 2 == 0 {
            (&one, &two)
        } else {
            (&two, &one)
        };
        // Both have it cached, then one writes (commit, then invalidate) and the other reads.
        writer.get_or_load(&Num("shared"), read).await.ok();
        reader.get_or_load(&Num("shared"), read).await.ok();
        database.store(i + 1, Ordering::SeqCst);
        writer.forget(&Num("shared")).await;
        if reader.get_or_load(&Num("shared"), read).await.ok() != Some(Some(i + 1)) {
            stale += 1;
        }
    }
    assert_eq!(stale, 0, "stale reads across replicas");
}

/// 200 concurrent misses on one key, across two instances: one load, whoever holds the lease.
#[tokio::test]
async fn concurrent_misses_across_replicas_load_once() {
    let (kv, prefix) = redis().await;
    let one = Cache::new(1 << 20, Some((kv.clone(), prefix.clone())));
    let two = Cache::new(1 << 20, Some((kv, prefix)));
    let (one, two) = (one.tenant("a"), two.tenant("a"));
    let loads = Arc::new(AtomicU64::new(0));
    let slow = || {
        let loads = loads.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(Some(loads.fetch_add(1, Ordering::SeqCst) + 1))
        }
    };
    let all = futures::future::join_all((0..200).map(|i| {
        let t = if i % 2 == 0 { &one } else { &two };
        t.get_or_load(&Num("cold"), slow)
    }))
    .await;
    assert!(all.iter().all(|r| matches!(r, Ok(Some(1)))));
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}
