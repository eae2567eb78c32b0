//! A circuit breaker for Redis. After `TRIP_AFTER` failures in a row it opens: calls fail at
//! once instead of each waiting out a timeout, so an outage adds no latency to requests. While
//! open, one background probe (`Redis::watch`) pings Redis every `PROBE_EVERY`; its first success
//! closes the breaker. No request is ever the probe.

use std::{
    sync::atomic::{AtomicBool, AtomicU32, Ordering},
    time::Duration,
};

/// Failures in a row that open the breaker.
const TRIP_AFTER: u32 = 3;

/// How often the probe pings while the breaker is open.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);

#[derive(Default)]
pub struct Breaker {
    failures: AtomicU32,
    open: AtomicBool,
}

impl Breaker {
    /// A breaker that starts open: nothing is known to answer until the probe says so.
    pub fn opened() -> Breaker {
        let b = Breaker::default();
        b.open.store(true, Ordering::Relaxed);
        metrics::gauge!("redis_breaker_open").set(1.0);
        b
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    pub fn succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
        if self.open.swap(false, Ordering::Relaxed) {
            metrics::gauge!("redis_breaker_open").set(0.0);
            tracing::info!("Redis answers again: the breaker is closed");
        }
    }

    pub fn failed(&self) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= TRIP_AFTER && !self.open.swap(true, Ordering::Relaxed) {
            metrics::gauge!("redis_breaker_open").set(1.0);
            metrics::counter!("redis_breaker_trips_total").increment(1);
            tracing::warn!(
                failures,
                "Redis failed {failures} times in a row: the breaker is open, calls fail at once \
                 and the database answers until a probe succeeds"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Breaker;

    #[test]
    fn opens_after_failures_in_a_row_and_closes_on_success() {
        let b = Breaker::default();
        b.failed();
        b.failed();
        b.succeeded();
        b.failed();
        b.failed();
        assert!(!b.is_open(), "a success resets the count");
        b.failed();
        assert!(b.is_open());
        b.succeeded();
        assert!(!b.is_open());
    }
}
