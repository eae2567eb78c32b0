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
    Cache, TenantCache,
    keys::{Key, Tag},
};
use crate::error::{Error, Result};

struct Num(&'static str);

impl Key for Num {
    type Value = u64;
    const TAGS: &'static [Tag] = &[Tag::Policies];
    const TTL: Duration = Duration::from_secs(60);

    fn name(&self) -> String {
        format!("num:{}", self.0)
    }

    fn weight(_: &u64) -> u32 {
        8
    }
}

fn tenant(slug: &str) -> (Cache, TenantCache) {
    let cache = Cache::new(1 << 20, true);
    let t = cache.tenant(slug);
    (cache, t)
}

/// A loader that counts its calls and answers with the count.
fn counting(loads: &Arc<AtomicU64>) -> impl Fn() -> std::future::Ready<Result<Option<u64>>> {
    let loads = loads.clone();
    move || std::future::ready(Ok(Some(loads.fetch_add(1, Ordering::SeqCst) + 1)))
}

#[tokio::test]
async fn hits_after_one_load_and_forget_reloads() {
    let (_cache, t) = tenant("a");
    let loads = Arc::new(AtomicU64::new(0));
    for _ in 0..3 {
        assert_eq!(
            t.get_or_load(&Num("x"), counting(&loads)).await.ok(),
            Some(Some(1))
        );
    }
    t.forget(&Num("x"));
    assert_eq!(
        t.get_or_load(&Num("x"), counting(&loads)).await.ok(),
        Some(Some(2))
    );
    t.flush(Tag::Policies);
    assert_eq!(
        t.get_or_load(&Num("x"), counting(&loads)).await.ok(),
        Some(Some(3))
    );
}

#[tokio::test]
async fn concurrent_misses_load_once() {
    let (_cache, t) = tenant("a");
    let loads = Arc::new(AtomicU64::new(0));
    let slow = || {
        let loads = loads.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(Some(loads.fetch_add(1, Ordering::SeqCst) + 1))
        }
    };
    let all = futures::future::join_all((0..50).map(|_| t.get_or_load(&Num("cold"), slow))).await;
    assert!(all.iter().all(|r| matches!(r, Ok(Some(1)))));
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}

/// A load that began before an invalidation is neither kept nor handed to a request that
/// began after it.
#[tokio::test]
async fn a_load_overtaken_by_a_change_is_not_served_after_it() {
    let (_cache, t) = tenant("a");
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
    // Start the early load, then change the record and invalidate, as a write would.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), &mut early)
            .await
            .is_err()
    );
    t.forget(&Num("p"));
    // A request after the change must not join the early load and get its old value.
    let late = t.get_or_load(&Num("p"), load);
    gate.notify_one();
    let (early, late) = tokio::join!(early, late);
    assert_eq!(
        early.ok(),
        Some(Some(1)),
        "the early request may see what it began with"
    );
    assert_eq!(
        late.ok(),
        Some(Some(2)),
        "a request after the change sees the change"
    );
    // And the old value was not kept.
    assert_eq!(t.get_or_load(&Num("p"), load).await.ok(), Some(Some(2)));
}

#[tokio::test]
async fn tenants_never_share_entries_and_flush_alone() {
    let cache = Cache::new(1 << 20, true);
    let (a, b) = (cache.tenant("a"), cache.tenant("b"));
    let (la, lb) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(100)));
    assert_eq!(
        a.get_or_load(&Num("same"), counting(&la)).await.ok(),
        Some(Some(1))
    );
    assert_eq!(
        b.get_or_load(&Num("same"), counting(&lb)).await.ok(),
        Some(Some(101))
    );
    a.flush(Tag::Tenant);
    assert_eq!(
        a.get_or_load(&Num("same"), counting(&la)).await.ok(),
        Some(Some(2))
    );
    assert_eq!(
        b.get_or_load(&Num("same"), counting(&lb)).await.ok(),
        Some(Some(101))
    );
}

#[tokio::test]
async fn failures_are_not_cached_and_absence_is() {
    let (_cache, t) = tenant("a");
    let failing = || std::future::ready(Err(Error::Unavailable("database busy".into())));
    assert!(t.get_or_load(&Num("f"), failing).await.is_err());
    let loads = Arc::new(AtomicU64::new(0));
    assert_eq!(
        t.get_or_load(&Num("f"), counting(&loads)).await.ok(),
        Some(Some(1))
    );

    let absent_loads = Arc::new(AtomicU64::new(0));
    let absent = || {
        absent_loads.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(None))
    };
    for _ in 0..3 {
        assert_eq!(t.get_or_load(&Num("none"), absent).await.ok(), Some(None));
    }
    assert_eq!(
        absent_loads.load(Ordering::SeqCst),
        1,
        "no such record is remembered"
    );
}

#[tokio::test]
async fn an_off_cache_always_loads() {
    let t = Cache::new(1 << 20, false).tenant("a");
    let loads = Arc::new(AtomicU64::new(0));
    for n in 1..=3 {
        assert_eq!(
            t.get_or_load(&Num("x"), counting(&loads)).await.ok(),
            Some(Some(n))
        );
    }
}
