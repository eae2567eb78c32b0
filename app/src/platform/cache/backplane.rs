//! The backplane: a Redis pub/sub subscription that tells this replica which keys and tags
//! another replica invalidated, so it drops its L1 copies, and acknowledges each (`acks.rs`).
//!
//! Pub/sub delivers at most once: a message published while the subscription is down is lost,
//! and nothing says which. So L1 is trusted only while the subscription is up:
//! - until the first subscribe succeeds, and from the moment it is lost, reads bypass L1 (they
//!   go to L2 and the database) and nothing is put in it;
//! - on every (re)subscribe, L1 is emptied and its epoch bumped (so a fill that began before
//!   cannot land), and only then is it used again;
//! - a connection that goes silent is found by a ping every `TICK`.
//!
//! Each message carries the generations L2 gave the names; one no newer than the last seen for
//! a name is ignored (it can only be a duplicate or overtaken). A replica's own messages are
//! not applied: it drops its own copies itself. It publishes through a plain connection to the
//! node it subscribes on, so `PUBLISH` counts the receivers whose acks it waits for.
//!
//! In a Redis Cluster a message published on any node reaches subscribers on every node. Every
//! replica subscribes to the first node that answers, in `REDIS_URL`'s order, so normally all
//! on the same one, which is the set `PUBLISH` counts; a replica that had to fall back to another
//! node still gets every message, but its ack is not waited for.

use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use redis::aio::MultiplexedConnection;

use super::{acks::Acks, generations::KEEP, l1::L1};
use crate::platform::redis::Redis;

/// How often the subscription is pinged.
const TICK: Duration = Duration::from_secs(1);

/// Names whose last generation is remembered, at most.
const SEEN_MAX: u64 = 100_000;

/// Resubscribe backoff bounds.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// A plain connection to the subscription's node, while it is up.
type Publisher = Arc<Mutex<Option<MultiplexedConnection>>>;

pub struct Backplane {
    up: Arc<AtomicBool>,
    acks: Arc<Acks>,
    /// Redis's call timeout: what a publish, and its acks, may take.
    timeout: Duration,
    publisher: Publisher,
    channel: String,
    sender: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backplane {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Listener {
    up: Arc<AtomicBool>,
    acks: Arc<Acks>,
    timeout: Duration,
    publisher: Publisher,
    l1: Arc<L1>,
    channel: String,
    sender: String,
    /// The newest generation received per name.
    seen: moka::sync::Cache<String, u64>,
}

impl Backplane {
    /// Subscribes, in the background, to `channel` on `kv`'s nodes; `sender` is this replica.
    pub fn start(kv: Arc<Redis>, l1: Arc<L1>, channel: String, sender: String) -> Backplane {
        let up = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(Acks::default());
        let publisher = Publisher::default();
        metrics::gauge!("cache_backplane_up").set(0.0);
        let timeout = kv.timeout();
        let listener = Listener {
            up: up.clone(),
            acks: acks.clone(),
            timeout,
            publisher: publisher.clone(),
            l1,
            channel: channel.clone(),
            sender: sender.clone(),
            // Bounded: forgetting one only lets a late duplicate cost a miss.
            seen: moka::sync::Cache::builder()
                .max_capacity(SEEN_MAX)
                .time_to_live(KEEP)
                .build(),
        };
        Backplane {
            up,
            acks,
            timeout,
            publisher,
            channel,
            sender,
            task: tokio::spawn(listener.run(kv)),
        }
    }

    /// Whether L1 may be used: the subscription is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Publishes invalidations (`<name> <generation>` lines) and waits for every other
    /// receiver's ack. False if it could not be published.
    pub async fn publish(&self, body: &str) -> bool {
        let conn = self
            .publisher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(mut conn) = conn else {
            return false;
        };
        let pending = self.acks.begin();
        let mut publish = redis::cmd("PUBLISH");
        publish
            .arg(&self.channel)
            .arg(format!("{} {}\n{body}", self.sender, pending.id));
        let receivers = tokio::time::timeout(self.timeout, publish.query_async::<usize>(&mut conn));
        let receivers = receivers.await.ok().and_then(Result::ok);
        // Every receiver but this replica acks.
        let others = receivers.map(|n| n.saturating_sub(1));
        self.acks.wait(pending, others, self.timeout).await;
        receivers.is_some()
    }
}

/// The channel on which `sender`'s invalidations are acknowledged.
fn ack_channel(channel: &str, sender: &str) -> String {
    format!("{channel}:acks:{sender}")
}

impl Listener {
    fn publisher(&self) -> MutexGuard<'_, Option<MultiplexedConnection>> {
        self.publisher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn run(self, kv: Arc<Redis>) {
        let mut pause = RETRY_MIN;
        let mut down_since: Option<Instant> = None;
        for node in (0..kv.nodes().len()).cycle() {
            match self.subscribe(&kv.nodes()[node]).await {
                Ok((pubsub, conn)) => {
                    // Messages may have been missed: nothing L1 holds is trusted any more.
                    self.l1.clear();
                    *self.publisher() = Some(conn.clone());
                    self.up.store(true, Ordering::Release);
                    metrics::gauge!("cache_backplane_up").set(1.0);
                    if let Some(since) = down_since.take() {
                        metrics::counter!("cache_backplane_reconnects_total").increment(1);
                        metrics::histogram!("cache_l1_bypass_seconds")
                            .record(since.elapsed().as_secs_f64());
                        tracing::info!(
                            bypassed_ms = since.elapsed().as_millis() as u64,
                            "cache backplane subscribed again: L1 emptied and back in use"
                        );
                    }
                    pause = RETRY_MIN;
                    let why = self.listen(pubsub, conn).await;
                    self.up.store(false, Ordering::Release);
                    *self.publisher() = None;
                    self.l1.clear();
                    metrics::gauge!("cache_backplane_up").set(0.0);
                    down_since = Some(Instant::now());
                    tracing::warn!(
                        reason = why,
                        "cache backplane lost: L1 bypassed (reads go to Redis and the database) \
                         until it is back"
                    );
                }
                Err(e) => {
                    down_since.get_or_insert_with(Instant::now);
                    tracing::debug!(error = %e, "cache backplane: cannot subscribe");
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
        }
    }

    /// The subscription (invalidations and this replica's acks), and a plain connection to the
    /// same node to publish on.
    async fn subscribe(
        &self,
        node: &redis::Client,
    ) -> redis::RedisResult<(redis::aio::PubSub, MultiplexedConnection)> {
        let connect = async {
            let mut pubsub = node.get_async_pubsub().await?;
            pubsub.subscribe(&self.channel).await?;
            pubsub
                .subscribe(ack_channel(&self.channel, &self.sender))
                .await?;
            let conn = node.get_multiplexed_async_connection().await?;
            Ok((pubsub, conn))
        };
        tokio::time::timeout(TICK, connect)
            .await
            .unwrap_or_else(|_| Err((redis::ErrorKind::Io, "subscribe timed out").into()))
    }

    /// Applies messages until the connection is lost; says how it was.
    async fn listen(
        &self,
        pubsub: redis::aio::PubSub,
        conn: MultiplexedConnection,
    ) -> &'static str {
        let (mut sink, mut stream) = pubsub.split();
        let mut tick = tokio::time::interval(TICK);
        tick.tick().await;
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(m) => {
                        if let Ok(payload) = m.get_payload::<String>() {
                            if m.get_channel_name() == self.channel {
                                self.apply(&payload, &conn);
                            } else if let Ok(id) = payload.parse() {
                                self.acks.heard(id);
                            }
                        }
                    }
                    None => return "connection closed",
                },
                _ = tick.tick() => {
                    let ping = tokio::time::timeout(TICK, sink.ping::<redis::Value>());
                    if !matches!(ping.await, Ok(Ok(_))) {
                        return "ping unanswered";
                    }
                }
            }
        }
    }

    /// Drops the L1 copies a message names, then acks it to its sender.
    fn apply(&self, payload: &str, conn: &MultiplexedConnection) {
        let mut lines = payload.lines();
        let Some((sender, id)) = lines.next().and_then(|l| l.split_once(' ')) else {
            return;
        };
        if sender == self.sender {
            return;
        }
        for line in lines {
            let Some((name, generation)) = line.split_once(' ') else {
                continue;
            };
            let Ok(generation) = generation.parse::<u64>() else {
                continue;
            };
            let newer = self.seen.get(name).is_none_or(|seen| generation > seen);
            let outcome = if newer {
                self.seen.insert(name.to_owned(), generation);
                self.l1.bump(name);
                "applied"
            } else {
                "ignored"
            };
            metrics::counter!("cache_invalidations_received_total", "outcome" => outcome)
                .increment(1);
        }
        if id != "0" {
            // Sent beside, so a slow Redis never holds up the next message.
            let (mut conn, channel, id, timeout) = (
                conn.clone(),
                ack_channel(&self.channel, sender),
                id.to_owned(),
                self.timeout,
            );
            tokio::spawn(async move {
                let mut ack = redis::cmd("PUBLISH");
                ack.arg(channel).arg(id);
                tokio::time::timeout(timeout, ack.query_async::<i64>(&mut conn))
                    .await
                    .ok();
            });
        }
    }
}
