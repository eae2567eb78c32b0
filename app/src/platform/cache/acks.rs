//! Acknowledgements of invalidations: how a writer knows every other replica has dropped its L1
//! copy before it answers its client.
//!
//! Each invalidation this replica publishes carries an id. Every other subscribed replica, once
//! it has applied the message to its L1, publishes the id on the sender's ack channel. The
//! writer waits until as many acks came back as the message had other receivers (what Redis
//! answers to `PUBLISH`: exact at that instant, whoever joined a moment before), or for Redis's
//! call timeout (`REDIS_TIMEOUT_MS`). So a read that follows a write, on any replica, never finds
//! the old copy in L1. "The message is on its way" is not enough: a busy replica may serve a
//! read that came in behind it.
//!
//! A replica that stops answering (a partition) costs each write that timeout, counted in
//! `cache_backplane_ack_timeouts_total`, until Redis drops its subscription.

use std::{
    collections::HashMap,
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::oneshot;

#[derive(Default)]
struct Waiting {
    acked: usize,
    expected: Option<usize>,
    done: Option<oneshot::Sender<()>>,
}

impl Waiting {
    fn settle(&mut self) {
        if self.expected.is_some_and(|e| self.acked >= e)
            && let Some(done) = self.done.take()
        {
            done.send(()).ok();
        }
    }
}

#[derive(Default)]
pub struct Acks {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, Waiting>>,
}

/// One invalidation's wait for acks.
pub struct Pending {
    pub id: u64,
    done: oneshot::Receiver<()>,
}

impl Acks {
    fn waiting(&self) -> MutexGuard<'_, HashMap<u64, Waiting>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An id for an invalidation about to be published (acks may come before `PUBLISH` returns).
    pub fn begin(&self) -> Pending {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (done, wait) = oneshot::channel();
        let waiting = Waiting {
            done: Some(done),
            ..Waiting::default()
        };
        self.waiting().insert(id, waiting);
        Pending { id, done: wait }
    }

    /// An ack for `id` came back.
    pub fn heard(&self, id: u64) {
        if let Some(w) = self.waiting().get_mut(&id) {
            w.acked += 1;
            w.settle();
        }
    }

    /// `PUBLISH` said how many received `pending`: this replica and `others`.
    fn published(&self, pending: &Pending, others: usize) {
        if let Some(w) = self.waiting().get_mut(&pending.id) {
            w.expected = Some(others);
            w.settle();
        }
    }

    /// Waits, at most `within` (Redis's call timeout), for `pending`'s acks from `others`
    /// replicas; `None`: it was not published, nothing to wait for.
    pub async fn wait(&self, mut pending: Pending, others: Option<usize>, within: Duration) {
        if let Some(others) = others {
            self.published(&pending, others);
            if tokio::time::timeout(within, &mut pending.done)
                .await
                .is_err()
            {
                metrics::counter!("cache_backplane_ack_timeouts_total").increment(1);
                tracing::warn!(
                    "cache: not every replica acknowledged an invalidation within {} ms; one \
                     may serve its old copy until the message reaches it",
                    within.as_millis()
                );
            }
        }
        self.waiting().remove(&pending.id);
    }
}

#[cfg(test)]
mod tests {
    use super::Acks;

    #[test]
    fn done_once_every_receiver_acked_whenever_the_count_comes() {
        let acks = Acks::default();
        let mut early = acks.begin();
        // Acks may come back before PUBLISH says how many received the message.
        acks.heard(early.id);
        assert!(early.done.try_recv().is_err(), "receivers not known yet");
        acks.published(&early, 2);
        assert!(early.done.try_recv().is_err(), "one ack of two");
        acks.heard(early.id);
        assert!(early.done.try_recv().is_ok());

        let mut alone = acks.begin();
        acks.published(&alone, 0);
        assert!(
            alone.done.try_recv().is_ok(),
            "no other replica: nothing to wait for"
        );
    }
}
