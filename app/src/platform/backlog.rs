//! Work a background task does on request (the in-process job runner of the embedded default,
//! `queue::local`). Requests for the same item made while it waits merge into one; `settled`
//! says when everything asked for is done (for shutdown, and tests).

use std::{
    collections::HashSet,
    hash::Hash,
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::Notify;

pub struct Backlog<T> {
    pending: Mutex<HashSet<T>>,
    wake: Notify,
    /// Batches taken and not yet done.
    busy: AtomicUsize,
}

/// Items taken from the backlog; it counts as busy until this is dropped.
pub struct Batch<'a, T> {
    pub items: Vec<T>,
    busy: &'a AtomicUsize,
}

impl<T> Drop for Batch<'_, T> {
    fn drop(&mut self) {
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<T: Hash + Eq> Default for Backlog<T> {
    fn default() -> Self {
        Backlog {
            pending: Mutex::new(HashSet::new()),
            wake: Notify::new(),
            busy: AtomicUsize::new(0),
        }
    }
}

impl<T: Hash + Eq> Backlog<T> {
    fn pending(&self) -> MutexGuard<'_, HashSet<T>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn add(&self, item: T) {
        self.pending().insert(item);
        self.wake.notify_one();
    }

    /// Waits for requests and takes them all.
    pub async fn take(&self) -> Batch<'_, T> {
        self.wake.notified().await;
        // Busy before the pending set empties, so `settled` never sees neither.
        self.busy.fetch_add(1, Ordering::AcqRel);
        Batch {
            items: self.pending().drain().collect(),
            busy: &self.busy,
        }
    }

    /// Waits (at most `within`) until every request is done; false if some were not.
    pub async fn settled(&self, within: Duration) -> bool {
        let until = Instant::now() + within;
        loop {
            let done = self.pending().is_empty() && self.busy.load(Ordering::Acquire) == 0;
            if done || Instant::now() >= until {
                return done;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
