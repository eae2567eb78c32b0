//! A circuit breaker for a dependency that answers requests (the object store; partners): after
//! `trip_after` failures in a row it opens, and calls fail at once for `open_for` instead of each
//! waiting out a timeout. Then it is half-open: the next call is let through as the one probe,
//! while the others still fail fast; the probe's success closes it, its failure opens it again.
//!
//! A probe dropped before it reports (its request was cancelled) counts as a failure, so a
//! breaker never sticks half-open. Time is tokio's clock, so a test can pause and advance it.
//! Every transition is a log line and a move of `circuit_breaker_state{breaker}` (0 closed, 1
//! open, 2 half-open).

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    fn gauge(self) -> f64 {
        match self {
            State::Closed => 0.0,
            State::Open => 1.0,
            State::HalfOpen => 2.0,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

struct Inner {
    state: State,
    failures: u32,
    opened_at: Instant,
}

pub struct Breaker {
    name: Arc<str>,
    trip_after: u32,
    open_for: Duration,
    inner: Arc<Mutex<Inner>>,
}

/// Leave to call: report how the call went (a permit dropped unreported is a failure).
#[must_use]
pub struct Permit {
    /// The breaker's state; taken when the call reports.
    inner: Option<Arc<Mutex<Inner>>>,
    breaker: Arc<str>,
    trip_after: u32,
}

/// The breaker is open: fail fast; it lets a probe through after `retry_after`.
#[derive(Debug)]
pub struct Open {
    pub retry_after: Duration,
}

impl Breaker {
    pub fn new(name: &str, trip_after: u32, open_for: Duration) -> Breaker {
        metrics::gauge!("circuit_breaker_state", "breaker" => name.to_owned()).set(0.0);
        metrics::counter!("circuit_breaker_transitions_total", "breaker" => name.to_owned(), "to" => "open")
            .absolute(0);
        Breaker {
            name: name.into(),
            trip_after: trip_after.max(1),
            open_for,
            inner: Arc::new(Mutex::new(Inner {
                state: State::Closed,
                failures: 0,
                opened_at: Instant::now(),
            })),
        }
    }

    pub fn state(&self) -> State {
        self.lock().state
    }

    /// Leave for one call, or how long until a probe may go.
    pub fn call(&self) -> Result<Permit, Open> {
        let mut inner = self.lock();
        let permit = |inner| Permit {
            inner,
            breaker: self.name.clone(),
            trip_after: self.trip_after,
        };
        match inner.state {
            State::Closed => Ok(permit(Some(self.inner.clone()))),
            State::HalfOpen => Err(Open {
                retry_after: Duration::from_secs(1),
            }),
            State::Open => {
                let waited = inner.opened_at.elapsed();
                if waited < self.open_for {
                    return Err(Open {
                        retry_after: self.open_for - waited,
                    });
                }
                move_to(&mut inner, State::HalfOpen, &self.name);
                Ok(permit(Some(self.inner.clone())))
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Permit {
    pub fn succeeded(mut self) {
        if let Some(inner) = self.inner.take() {
            let mut inner = inner.lock().unwrap_or_else(PoisonError::into_inner);
            inner.failures = 0;
            if inner.state != State::Closed {
                move_to(&mut inner, State::Closed, &self.breaker);
            }
        }
    }

    pub fn failed(mut self) {
        self.fail();
    }

    fn fail(&mut self) {
        if let Some(inner) = self.inner.take() {
            let mut inner = inner.lock().unwrap_or_else(PoisonError::into_inner);
            inner.failures = inner.failures.saturating_add(1);
            let trips = inner.state == State::HalfOpen
                || (inner.state == State::Closed && inner.failures >= self.trip_after);
            if trips {
                inner.opened_at = Instant::now();
                move_to(&mut inner, State::Open, &self.breaker);
            }
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // Cancelled before it said how it went: a probe must not leave the breaker half-open.
        let half_open = self.inner.as_ref().is_some_and(|inner| {
            inner.lock().unwrap_or_else(PoisonError::into_inner).state == State::HalfOpen
        });
        if half_open {
            self.fail();
        }
    }
}

fn move_to(inner: &mut Inner, to: State, breaker: &str) {
    let from = inner.state;
    inner.state = to;
    metrics::gauge!("circuit_breaker_state", "breaker" => breaker.to_owned()).set(to.gauge());
    metrics::counter!("circuit_breaker_transitions_total", "breaker" => breaker.to_owned(), "to" => to.as_str())
        .increment(1);
    match to {
        State::Open => tracing::warn!(
            breaker,
            from = from.as_str(),
            failures = inner.failures,
            "circuit breaker open: calls fail at once until a probe succeeds"
        ),
        State::HalfOpen => tracing::info!(breaker, "circuit breaker half-open: one probe goes"),
        State::Closed => tracing::info!(breaker, "circuit breaker closed: the dependency answers"),
    }
}

pub fn describe() {
    metrics::describe_gauge!(
        "circuit_breaker_state",
        "A circuit breaker's state, by breaker: 0 closed, 1 open (failing fast), 2 half-open"
    );
    metrics::describe_counter!(
        "circuit_breaker_transitions_total",
        "Moves of a circuit breaker, by breaker and the state moved to"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_failures_in_a_row_then_probes_once() {
        let b = Breaker::new("test", 3, Duration::from_secs(30));
        for _ in 0..2 {
            b.call().map(Permit::failed).ok();
        }
        b.call().map(Permit::succeeded).ok();
        for _ in 0..3 {
            b.call().map(Permit::failed).ok();
        }
        assert_eq!(b.state(), State::Open, "three in a row after a success");
        assert!(b.call().is_err(), "open: fails fast");
        tokio::time::advance(Duration::from_secs(30)).await;
        let probe = b.call().expect("the probe goes");
        assert!(b.call().is_err(), "only one probe at a time");
        probe.failed();
        assert_eq!(b.state(), State::Open, "a failed probe opens it again");
        tokio::time::advance(Duration::from_secs(30)).await;
        b.call().map(Permit::succeeded).ok();
        assert_eq!(b.state(), State::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_probe_counts_as_a_failure() {
        let b = Breaker::new("test-drop", 1, Duration::from_secs(5));
        b.call().map(Permit::failed).ok();
        tokio::time::advance(Duration::from_secs(5)).await;
        drop(b.call().expect("the probe goes"));
        assert_eq!(b.state(), State::Open);
    }
}
