//! The seed's ApiRateLimiter, made to work. Kong enforces each consumer's limits and sends its
//! `X-RateLimit-Remaining` to the client, never upstream, so the header the seed's middleware
//! read never reaches a service behind Kong. The service counts for itself instead: every
//! request Kong let through (it names its consumer) is counted in the windows Kong counts in,
//! the clock's minute and hour, against the limits kong.yaml sets (RATE_LIMIT_PER_MINUTE and
//! RATE_LIMIT_PER_HOUR; deploy/check.sh checks the two agree).
//!
//! A request costs an increment in a map; once a second each replica adds its tally to Redis
//! (one key per consumer and window, `INCRBY` then `EXPIRE`, under the consumer's hash tag so a
//! cluster keeps both on one node) and reads back the replicas' total; without Redis each
//! replica counts alone, and while Redis fails a replica keeps its tally to add once Redis
//! answers and reports its own estimate meanwhile. Each flush sets `gateway_rate_limit_usage_ratio
//! {consumer, window}`, the share of the limit used in the current window, and once per consumer
//! and window warns `API rate limit approaching` when the requests left are at or below
//! RATE_LIMIT_WARN_REMAINING, as the seed did. The counts trail Kong's by up to a flush (and
//! Kong's `local` policy counts per Kong node): they warn, Kong limits.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use poem::{Endpoint, Request};
use telemetry::metrics::LabelCap;

use super::{CONSUMER_ID, settings::GatewayConfig};
use crate::platform::{Platform, redis::Redis};

const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Consumers with a `consumer` label of their own; later ones are `other`.
const CONSUMER_LABELS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Window {
    Minute,
    Hour,
}

impl Window {
    fn secs(self) -> u64 {
        match self {
            Window::Minute => 60,
            Window::Hour => 3600,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Window::Minute => "minute",
            Window::Hour => "hour",
        }
    }
}

/// A consumer's count in one window.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    index: u64,
    total: u64,
    warned: bool,
}

pub struct Usage {
    limits: Vec<(Window, u64)>,
    warn_remaining: u64,
    /// Redis and the keys' prefix, when configured.
    redis: Option<(Arc<Redis>, String)>,
    /// Requests counted since the last flush, by consumer.
    pending: Mutex<HashMap<String, u64>>,
    /// Requests counted while Redis failed, to add once it answers.
    unsent: Mutex<HashMap<String, u64>>,
    seen: Mutex<HashMap<(String, Window), Seen>>,
    labels: LabelCap,
}

impl Usage {
    pub fn new(config: &GatewayConfig, redis: Option<(Arc<Redis>, String)>) -> Arc<Usage> {
        let limits = [
            (Window::Minute, config.rate_limit_per_minute),
            (Window::Hour, config.rate_limit_per_hour),
        ]
        .into_iter()
        .filter(|(_, limit)| *limit > 0)
        .collect();
        Arc::new(Usage {
            limits,
            warn_remaining: config.rate_limit_warn_remaining,
            redis,
            pending: Mutex::new(HashMap::new()),
            unsent: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            labels: LabelCap::new(CONSUMER_LABELS),
        })
    }

    /// Flushes every second while the `Usage` lives.
    pub fn spawn(usage: &Arc<Usage>) {
        let weak: Weak<Usage> = Arc::downgrade(usage);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FLUSH_EVERY).await;
                let Some(usage) = weak.upgrade() else { break };
                usage.flush(now()).await;
            }
        });
    }

    /// One request of `consumer`: on the request's path, so a map increment only.
    pub fn count(&self, consumer: &str) {
        if self.limits.is_empty() {
            return;
        }
        if let Ok(mut pending) = self.pending.lock() {
            match pending.get_mut(consumer) {
                Some(n) => *n += 1,
                None => {
                    pending.insert(consumer.to_owned(), 1);
                }
            }
        }
    }

    /// Adds the tallies to the shared counts, reports every consumer counted in a current
    /// window, and forgets those whose windows have all ended. `now` is in epoch seconds.
    pub async fn flush(&self, now: u64) {
        let pending = self
            .pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        let mut consumers: Vec<String> = pending.keys().cloned().collect();
        if let Ok(seen) = self.seen.lock() {
            consumers.extend(seen.keys().map(|(c, _)| c.clone()));
        }
        consumers.sort();
        consumers.dedup();
        for consumer in consumers {
            let n = pending.get(&consumer).copied().unwrap_or(0);
            let totals = self.add(&consumer, n, now).await;
            self.report(&consumer, &totals, now);
        }
    }

    /// The consumer's totals in the current windows after adding `n`: the replicas' (Redis)
    /// or this one's.
    async fn add(&self, consumer: &str, n: u64, now: u64) -> Vec<(Window, u64)> {
        if let Some((redis, prefix)) = &self.redis {
            let earlier = self
                .unsent
                .lock()
                .ok()
                .and_then(|mut u| u.remove(consumer))
                .unwrap_or(0);
            let sent = n + earlier;
            let mut pipe = redis::pipe();
            for (window, _) in &self.limits {
                let key = format!(
                    "{prefix}ratelimit:{{{consumer}}}:{}:{}",
                    window.name(),
                    now / window.secs()
                );
                pipe.cmd("INCRBY").arg(&key).arg(sent);
                pipe.cmd("EXPIRE").arg(&key).arg(2 * window.secs()).ignore();
            }
            let counted = redis
                .call("rate_limit_count", |mut conn| async move {
                    pipe.query_async::<Vec<u64>>(&mut conn).await
                })
                .await;
            match counted {
                Ok(totals) => return self.limits.iter().map(|(w, _)| *w).zip(totals).collect(),
                // Kept for the next flush that reaches Redis, so the shared count loses nothing
                // while Redis is away (or not reached yet); meanwhile the estimate below.
                Err(_) => {
                    if let Ok(mut unsent) = self.unsent.lock() {
                        *unsent.entry(consumer.to_owned()).or_default() += sent;
                    }
                }
            }
        }
        let Ok(seen) = self.seen.lock() else {
            return Vec::new();
        };
        self.limits
            .iter()
            .map(|(window, _)| {
                let index = now / window.secs();
                let before = seen
                    .get(&(consumer.to_owned(), *window))
                    .filter(|s| s.index == index)
                    .map_or(0, |s| s.total);
                (*window, before + n)
            })
            .collect()
    }

    fn report(&self, consumer: &str, totals: &[(Window, u64)], now: u64) {
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        let label = self.labels.label(consumer);
        for ((window, total), (_, limit)) in totals.iter().zip(&self.limits) {
            let index = now / window.secs();
            metrics::gauge!("gateway_rate_limit_usage_ratio", "consumer" => label.clone(), "window" => window.name())
                .set(*total as f64 / *limit as f64);
            let key = (consumer.to_owned(), *window);
            if *total == 0 {
                seen.remove(&key);
                continue;
            }
            let entry = seen.entry(key).or_default();
            if entry.index != index {
                *entry = Seen {
                    index,
                    ..Seen::default()
                };
            }
            entry.total = *total;
            let remaining = limit.saturating_sub(*total);
            if remaining <= self.warn_remaining && !entry.warned {
                entry.warned = true;
                metrics::counter!("gateway_rate_limit_warnings_total", "window" => window.name())
                    .increment(1);
                tracing::warn!(
                    consumer,
                    remaining,
                    limit,
                    window = window.name(),
                    "API rate limit approaching"
                );
            }
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Counts each request Kong let through against its consumer (`X-Consumer-Username`, which
/// Kong sends when the consumer has one, else `X-Consumer-ID`).
pub async fn count_consumer<E: Endpoint>(next: E, req: Request) -> poem::Result<E::Output> {
    let consumer = req
        .header("X-Consumer-Username")
        .or_else(|| req.header(CONSUMER_ID));
    if let (Some(consumer), Some(platform)) = (consumer, req.data::<Arc<Platform>>()) {
        platform.usage.count(consumer);
    }
    next.call(req).await
}

pub fn describe() {
    metrics::describe_gauge!(
        "gateway_rate_limit_usage_ratio",
        "Share of a Kong consumer's rate limit used in the current window (minute, hour)"
    );
    metrics::describe_counter!(
        "gateway_rate_limit_warnings_total",
        "Consumers warned of their rate limit (few requests left in a window)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(minute: u64, hour: u64) -> Arc<Usage> {
        let config = GatewayConfig {
            rate_limit_per_minute: minute,
            rate_limit_per_hour: hour,
            rate_limit_warn_remaining: 2,
        };
        Usage::new(&config, None)
    }

    fn seen(u: &Usage, consumer: &str, window: Window) -> Option<Seen> {
        let seen = u.seen.lock().expect("lock");
        seen.get(&(consumer.to_owned(), window)).copied()
    }

    #[tokio::test]
    async fn counts_per_window_warns_once_and_forgets_ended_windows() {
        let u = usage(5, 100);
        let start = 1_000 * 3600; // the start of an hour, and of a minute
        for _ in 0..3 {
            u.count("acme-portal");
        }
        u.count("globex-portal");
        u.flush(start).await;
        let acme = seen(&u, "acme-portal", Window::Minute).expect("counted");
        assert_eq!((acme.total, acme.warned), (3, true), "2 left of 5: warned");
        assert_eq!(
            seen(&u, "globex-portal", Window::Minute).map(|s| s.warned),
            Some(false)
        );
        u.count("acme-portal");
        u.flush(start + 1).await;
        let acme = seen(&u, "acme-portal", Window::Minute).expect("counted");
        assert_eq!(
            (acme.total, acme.warned),
            (4, true),
            "still warned, not again"
        );
        // The next minute starts from nothing; the hour goes on.
        u.flush(start + 60).await;
        assert!(seen(&u, "acme-portal", Window::Minute).is_none());
        assert_eq!(
            seen(&u, "acme-portal", Window::Hour).map(|s| s.total),
            Some(4)
        );
    }

    #[tokio::test]
    async fn no_limit_counts_nothing() {
        let u = usage(0, 0);
        u.count("acme-portal");
        u.flush(0).await;
        assert!(u.seen.lock().expect("lock").is_empty());
    }
}
