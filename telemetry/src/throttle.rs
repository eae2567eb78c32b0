//! Log lines that a flood can cause (connections shed under load, subscriptions refused on an
//! anonymous socket) go through a `Throttle`: at most so many a second are written, the rest
//! are counted, and the next line written says how many were left out (`suppressed`). The log
//! queue is bounded and shared: without this, one misbehaving client's lines would push every
//! other tenant's out of it. The event itself is always counted in a metric; the line is only
//! its description.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Debug)]
pub struct Throttle {
    per_second: u32,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Option<Instant>,
    written: u32,
    suppressed: u64,
}

impl Throttle {
    /// At most `per_second` lines a second.
    pub const fn per_second(per_second: u32) -> Throttle {
        Throttle {
            per_second,
            state: Mutex::new(Window {
                started: None,
                written: 0,
                suppressed: 0,
            }),
        }
    }

    /// `Some(lines left out since the last one written)` if a line may be written now; `None`
    /// if this one is to be left out (and is counted).
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if w.started
            .is_none_or(|s| now.duration_since(s) >= Duration::from_secs(1))
        {
            w.started = Some(now);
            w.written = 0;
        }
        if w.written >= self.per_second {
            w.suppressed += 1;
            return None;
        }
        w.written += 1;
        Some(std::mem::take(&mut w.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_so_many_a_second_and_says_how_many_it_left_out() {
        let t = Throttle::per_second(2);
        let start = Instant::now();
        assert_eq!(t.admit_at(start), Some(0));
        assert_eq!(t.admit_at(start), Some(0));
        for _ in 0..1000 {
            assert_eq!(t.admit_at(start + Duration::from_millis(500)), None);
        }
        assert_eq!(t.admit_at(start + Duration::from_millis(1000)), Some(1000));
        assert_eq!(t.admit_at(start + Duration::from_millis(1001)), Some(0));
    }
}
