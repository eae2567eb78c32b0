//! The slow-client rule (`HTTP_MIN_DATA_RATE`), as Kestrel's minimum data rates have it: while
//! the service waits on a client in the middle of a request — for the next bytes of its body,
//! or for room to write its response — the client owes `rate` bytes a second. Bytes it moves
//! pay the debt back, and may pay ahead, but only by the grace period's worth, so an early burst
//! does not buy a long stall. A client that owes more than the grace period's worth is too slow,
//! and its connection is closed.
//!
//! Only waiting counts: a handler that takes its time (a slow query), a response the client
//! reads at once, an idle keep-alive connection, never run up a debt. A client that stalls
//! completely is closed after the grace period; one that trickles at `r < rate`, after
//! `grace × rate / (rate − r)`.

use std::time::{Duration, Instant};

/// What the service is waiting for on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A request body's next bytes.
    Read,
    /// Room in the socket to write a response.
    Write,
}

#[derive(Debug)]
pub struct Budget {
    /// Bytes a second owed while waiting; 0: the rule is off.
    rate: f64,
    /// The most that may be owed, and the most paid ahead: the grace period's worth.
    cap: f64,
    debt: f64,
    /// Request bodies being waited for (HTTP/2 reads several at once), and whether a write is.
    reading: u32,
    writing: bool,
    since: Instant,
}

impl Budget {
    pub fn new(rate: f64, grace: Duration, now: Instant) -> Budget {
        Budget {
            rate,
            cap: rate * grace.as_secs_f64(),
            debt: 0.0,
            reading: 0,
            writing: false,
            since: now,
        }
    }

    /// Adds what the time since the last event cost, if the service was waiting.
    fn settle(&mut self, now: Instant) {
        if self.reading > 0 || self.writing {
            let waited = now.saturating_duration_since(self.since).as_secs_f64();
            self.debt += self.rate * waited;
        }
        self.since = now;
    }

    pub fn wait(&mut self, side: Side, now: Instant) {
        self.settle(now);
        match side {
            Side::Read => self.reading += 1,
            Side::Write => self.writing = true,
        }
    }

    pub fn done_waiting(&mut self, side: Side, now: Instant) {
        self.settle(now);
        match side {
            Side::Read => self.reading = self.reading.saturating_sub(1),
            Side::Write => self.writing = false,
        }
    }

    /// The client moved `bytes`.
    pub fn moved(&mut self, bytes: usize, now: Instant) {
        self.settle(now);
        self.debt = (self.debt - bytes as f64).max(-self.cap);
    }

    /// True once the client owes more than the grace period's worth.
    pub fn exhausted(&mut self, now: Instant) -> bool {
        self.settle(now);
        self.rate > 0.0 && self.debt > self.cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(5);

    fn at(start: Instant, secs: f64) -> Instant {
        start + Duration::from_secs_f64(secs)
    }

    #[test]
    fn a_stalled_client_is_closed_after_the_grace_period() {
        let t = Instant::now();
        let mut b = Budget::new(100.0, GRACE, t);
        b.wait(Side::Read, t);
        assert!(!b.exhausted(at(t, 4.9)));
        assert!(b.exhausted(at(t, 5.1)));
    }

    #[test]
    fn only_waiting_costs() {
        let t = Instant::now();
        let mut b = Budget::new(100.0, GRACE, t);
        // A slow handler, then a response the client reads at once: nothing owed.
        assert!(!b.exhausted(at(t, 60.0)));
        b.wait(Side::Write, at(t, 60.0));
        b.moved(10, at(t, 60.1));
        b.done_waiting(Side::Write, at(t, 60.1));
        assert!(!b.exhausted(at(t, 600.0)));
    }

    #[test]
    fn a_trickle_below_the_rate_is_closed_and_one_above_it_is_not() {
        let t = Instant::now();
        let mut slow = Budget::new(100.0, GRACE, t);
        let mut fast = Budget::new(100.0, GRACE, t);
        slow.wait(Side::Read, t);
        fast.wait(Side::Read, t);
        let mut closed_at = None;
        for tick in 1..=200 {
            let now = at(t, f64::from(tick) * 0.5);
            slow.moved(25, now); // 50 B/s
            fast.moved(60, now); // 120 B/s
            assert!(!fast.exhausted(now), "a client above the rate was closed");
            if closed_at.is_none() && slow.exhausted(now) {
                closed_at = Some(f64::from(tick) * 0.5);
            }
        }
        // grace × rate / (rate − r) = 5 × 100 / 50 = 10 s.
        let closed_at = closed_at.expect("a trickle below the rate is closed");
        assert!((9.5..=10.5).contains(&closed_at), "closed at {closed_at} s");
    }

    #[test]
    fn paying_ahead_buys_at_most_one_more_grace_period() {
        let t = Instant::now();
        let mut b = Budget::new(100.0, GRACE, t);
        b.moved(1_000_000, t);
        b.wait(Side::Read, t);
        assert!(!b.exhausted(at(t, 9.9)));
        assert!(b.exhausted(at(t, 10.1)));
    }

    #[test]
    fn off_when_the_rate_is_zero() {
        let t = Instant::now();
        let mut b = Budget::new(0.0, GRACE, t);
        b.wait(Side::Read, t);
        assert!(!b.exhausted(at(t, 3600.0)));
    }
}
