//! Broadcasting: the seed's `PolicyBound implements ShouldBroadcast`, served to laravel-echo and
//! pusher-js over the Pusher protocol (`pusher.rs`), and as resumable server-sent events
//! (`sse.rs`).
//!
//! - **Channels** are the domain's (`channels::Channels`, here the insurance domain's
//!   `private-tenant.{slug}` and `private-policy.{id}`). A client joins one with a signature
//!   (`signature.rs`) that the domain's `POST /broadcasting/auth` gives only to a consumer the
//!   channel belongs to.
//! - **Where broadcasts come from**: the outbox. The relay hands each published event to
//!   `Broadcasts::event` (`Broadcasting`), so a broadcast is sent only for a committed change, at
//!   least once, with the event's id, on the channels the domain names for it.
//! - **Fan-out**: with Redis, a broadcast is appended to the channel's stream
//!   (`<REDIS_PREFIX>bc:{channel}`, the last `BROADCAST_HISTORY` entries kept) and published on
//!   `<REDIS_PREFIX>broadcasts` in one script; every instance listens and delivers to its own
//!   sockets, so a subscriber on instance B gets what the worker or instance A relayed; the
//!   streams are the history SSE clients resume from. Without Redis, delivery is within the
//!   process and the last broadcasts are kept in memory.
//! - **Bounded**: a socket holds at most `MAX_SUBSCRIPTIONS` channels and `QUEUE` undelivered
//!   messages; a socket that falls further behind is closed (4100), never buffered without end.
//!   How many sockets and streams may be open is `admission`'s to say.
//! - **Shutdown**: `close` ends every stream cleanly (its client resumes elsewhere with
//!   `Last-Event-ID`) and closes every socket with 4200 (pusher-js reconnects at once).

pub mod admission;
pub mod channels;
pub mod pusher;
mod session;
pub mod settings;
pub mod signature;
pub mod sse;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt, future::BoxFuture};
use redis::Script;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::platform::{
    error::Result,
    outbox::{Event, publisher::EventPublisher},
    redis::Redis,
};
use admission::{Admission, Caps};
use channels::Channels;

/// Channels one socket may join.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// Messages waiting for one socket; beyond, it is too slow and is closed.
pub const QUEUE: usize = 256;

/// One broadcast, as every socket sends it.
#[derive(Debug)]
pub struct Message {
    /// Its id in the channel's history (a stream id).
    pub id: String,
    /// The wire name.
    pub channel: String,
    pub event: String,
    /// The payload, JSON text (Pusher sends `data` as a string).
    pub data: String,
}

/// A socket's queue, and the flag that tells it it fell too far behind.
struct Subscriber {
    to: mpsc::Sender<Arc<Message>>,
    evicted: Arc<AtomicBool>,
}

type Subscribers = HashMap<String, HashMap<u64, Subscriber>>;

const APPEND: &str = r"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'event', ARGV[2], 'data', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PUBLISH', ARGV[4], ARGV[5] .. '\n' .. id .. '\n' .. ARGV[2] .. '\n' .. ARGV[3])
return id
";

/// How long a quiet channel's history is kept in Redis.
const HISTORY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Without Redis: broadcasts kept in memory, over every channel, per `BROADCAST_HISTORY`.
const LOCAL_HISTORY_FACTOR: usize = 10;

pub struct Broadcasts {
    subscribers: Mutex<Subscribers>,
    pub admission: Arc<Admission>,
    /// The domain's channels.
    pub channels: Arc<dyn Channels>,
    /// True once the process is shutting down: every socket and stream ends.
    closing: watch::Sender<bool>,
    next_socket: AtomicU64,
    redis: Option<(Arc<Redis>, String)>,
    append: Script,
    history: usize,
    /// Without Redis: the local sequence of ids, and the recent broadcasts.
    sequence: AtomicU64,
    recent: Mutex<std::collections::VecDeque<Arc<Message>>>,
}

impl Broadcasts {
    /// The domain's `channels`; with `kv`, fanned out through Redis under `prefix`.
    pub fn new(
        channels: Arc<dyn Channels>,
        kv: Option<(Arc<Redis>, String)>,
        history: usize,
        caps: Caps,
    ) -> Broadcasts {
        describe();
        Broadcasts {
            subscribers: Mutex::default(),
            admission: Admission::new(caps),
            channels,
            closing: watch::Sender::new(false),
            next_socket: AtomicU64::new(1),
            redis: kv,
            append: Script::new(APPEND),
            history,
            sequence: AtomicU64::new(0),
            recent: Mutex::default(),
        }
    }

    fn subscribers(&self) -> MutexGuard<'_, Subscribers> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends every stream and closes every socket: the process is going.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once `close` was called.
    pub fn closing(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            closing.wait_for(|c| *c).await.ok();
        }
    }

    /// Waits, at most `within`, for every socket and stream to be gone (after `close`).
    pub async fn closed(&self, within: Duration) {
        let until = tokio::time::Instant::now() + within;
        while self.admission.open() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A new socket's id and the queue its messages arrive on.
    pub fn connect(
        &self,
    ) -> (
        u64,
        mpsc::Sender<Arc<Message>>,
        mpsc::Receiver<Arc<Message>>,
    ) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (self.next_socket.fetch_add(1, Ordering::Relaxed), tx, rx)
    }

    pub fn subscribe(
        &self,
        socket: u64,
        channel: &str,
        to: mpsc::Sender<Arc<Message>>,
        evicted: Arc<AtomicBool>,
    ) {
        self.subscribers()
            .entry(channel.to_owned())
            .or_default()
            .insert(socket, Subscriber { to, evicted });
        metrics::gauge!("broadcast_subscriptions").increment(1.0);
    }

    pub fn unsubscribe(&self, socket: u64, channel: &str) {
        let mut all = self.subscribers();
        if let Some(on) = all.get_mut(channel)
            && on.remove(&socket).is_some()
        {
            metrics::gauge!("broadcast_subscriptions").decrement(1.0);
            if on.is_empty() {
                all.remove(channel);
            }
        }
    }

    /// Broadcasts a committed domain event of `tenant` (if it is one that is broadcast).
    pub async fn event(&self, tenant: &str, event: &Event) -> Result<()> {
        let Some((channels, payload)) = self.channels.of(event, tenant) else {
            return Ok(());
        };
        let data = payload.to_string();
        for channel in channels {
            self.send(&channel, &event.event_type, &data).await?;
        }
        Ok(())
    }

    async fn send(&self, wire: &str, event: &str, data: &str) -> Result<()> {
        let span = tracing::info_span!(
            "broadcast",
            otel.name = %format_args!("broadcast {event}"),
            otel.kind = "producer",
            messaging.system = "pusher",
            messaging.destination.name = %wire,
        );
        self.append(wire, event, data).instrument(span).await
    }

    async fn append(&self, wire: &str, event: &str, data: &str) -> Result<()> {
        metrics::counter!("broadcast_events_total", "event" => event.to_owned()).increment(1);
        match &self.redis {
            Some((kv, prefix)) => {
                let mut call = self.append.key(format!("{prefix}bc:{{{wire}}}"));
                call.arg(self.history)
                    .arg(event)
                    .arg(data)
                    .arg(format!("{prefix}broadcasts"))
                    .arg(wire)
                    .arg(HISTORY_TTL.as_millis() as u64);
                let _: String = kv
                    .call("broadcast_append", |mut c| async move {
                        call.invoke_async(&mut c).await
                    })
                    .await?;
            }
            None => {
                // Ordered by the sequence (the time is for the lag): ids follow the order
                // broadcasts are made in, which is not their changes' commit order.
                let n = self.sequence.fetch_add(1, Ordering::Relaxed);
                let message = Arc::new(Message {
                    id: format!("{}-{n}", crate::platform::db::now_ms()),
                    channel: wire.to_owned(),
                    event: event.to_owned(),
                    data: data.to_owned(),
                });
                {
                    let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
                    if recent.len() >= self.history * LOCAL_HISTORY_FACTOR {
                        recent.pop_front();
                    }
                    recent.push_back(message.clone());
                }
                self.deliver(message);
            }
        }
        Ok(())
    }

    /// The channel's broadcasts after `after` (a message id), oldest first: the newest
    /// `BROADCAST_HISTORY` of them, if more were missed.
    pub async fn after(&self, channel: &str, after: (u64, u64)) -> Result<Vec<Arc<Message>>> {
        let Some((kv, prefix)) = &self.redis else {
            let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            let mut missed: Vec<_> = recent
                .iter()
                .filter(|m| m.channel == channel && position(&m.id) > after)
                .cloned()
                .collect();
            missed.drain(..missed.len().saturating_sub(self.history));
            return Ok(missed);
        };
        // Newest first and inclusive (any two numbers make a valid start, so a client's
        // Last-Event-ID can never make Redis refuse the command); the entry at `after` dropped.
        let mut xrevrange = redis::cmd("XREVRANGE");
        xrevrange
            .arg(format!("{prefix}bc:{{{channel}}}"))
            .arg("+")
            .arg(format!("{}-{}", after.0, after.1))
            .arg("COUNT")
            .arg(self.history + 1);
        let entries: Vec<(String, HashMap<String, String>)> = kv
            .call("broadcast_history", |mut c| async move {
                xrevrange.query_async(&mut c).await
            })
            .await?;
        let mut missed: Vec<_> = entries
            .into_iter()
            .filter(|(id, _)| position(id) > after)
            .take(self.history)
            .map(|(id, mut fields)| {
                Arc::new(Message {
                    id,
                    channel: channel.to_owned(),
                    event: fields.remove("event").unwrap_or_default(),
                    data: fields.remove("data").unwrap_or_default(),
                })
            })
            .collect();
        missed.reverse();
        Ok(missed)
    }

    /// Where the channel's history ends now (0-0 when it has none).
    pub async fn last(&self, channel: &str) -> Result<(u64, u64)> {
        let Some((kv, prefix)) = &self.redis else {
            let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            return Ok(recent
                .iter()
                .rev()
                .find(|m| m.channel == channel)
                .map_or((0, 0), |m| position(&m.id)));
        };
        let mut xrevrange = redis::cmd("XREVRANGE");
        xrevrange
            .arg(format!("{prefix}bc:{{{channel}}}"))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1);
        let newest: Vec<(String, HashMap<String, String>)> = kv
            .call("broadcast_history", |mut c| async move {
                xrevrange.query_async(&mut c).await
            })
            .await?;
        Ok(newest.first().map_or((0, 0), |(id, _)| position(id)))
    }

    /// Hands a message to this process's subscribers of its channel; a socket whose queue is
    /// full is marked evicted (its connection closes, see `pusher`).
    pub fn deliver(&self, message: Arc<Message>) {
        let mut all = self.subscribers();
        let Some(on) = all.get_mut(&message.channel) else {
            return;
        };
        let appended = position(&message.id).0 as i64;
        metrics::histogram!("broadcast_fanout_lag_seconds")
            .record((crate::platform::db::now_ms() - appended).max(0) as f64 / 1000.0);
        on.retain(|_, sub| match sub.to.try_send(message.clone()) {
            Ok(()) => {
                metrics::counter!("broadcast_deliveries_total").increment(1);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                sub.evicted.store(true, Ordering::Release);
                disconnected(Disconnect::TooSlow);
                tracing::warn!(channel = %message.channel, "socket too slow for its broadcasts: closed");
                metrics::gauge!("broadcast_subscriptions").decrement(1.0);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                metrics::gauge!("broadcast_subscriptions").decrement(1.0);
                false
            }
        });
    }
}

/// A message id (`ms-seq`, a Redis stream id) as a number pair, for ordering; 0-0 if unreadable.
pub fn position(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// The broadcasts as a publisher of the outbox's relay: after the configured one, so a
/// broadcast follows only a published event.
pub struct Broadcasting(pub Arc<Broadcasts>);

impl EventPublisher for Broadcasting {
    fn publish<'a>(
        &'a self,
        _topic: &'a str,
        tenant: &'a str,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.0.event(tenant, event))
    }
}

/// With Redis: delivers what any instance broadcasts to this process's sockets, resubscribing
/// when the connection drops.
pub fn spawn_listener(broadcasts: Arc<Broadcasts>) -> Option<tokio::task::JoinHandle<()>> {
    let (kv, prefix) = broadcasts.redis.clone()?;
    Some(tokio::spawn(async move {
        let channel = format!("{prefix}broadcasts");
        for node in kv.nodes().iter().cycle() {
            if let Ok(Ok(mut pubsub)) =
                tokio::time::timeout(Duration::from_secs(2), node.get_async_pubsub()).await
                && pubsub.subscribe(&channel).await.is_ok()
            {
                let mut messages = pubsub.on_message();
                while let Some(m) = messages.next().await {
                    let Ok(text) = m.get_payload::<String>() else {
                        continue;
                    };
                    let mut parts = text.splitn(4, '\n');
                    if let (Some(channel), Some(id), Some(event), Some(data)) =
                        (parts.next(), parts.next(), parts.next(), parts.next())
                    {
                        broadcasts.deliver(Arc::new(Message {
                            id: id.to_owned(),
                            channel: channel.to_owned(),
                            event: event.to_owned(),
                            data: data.to_owned(),
                        }));
                    }
                }
                tracing::warn!("broadcast fan-out lost; resubscribing");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }))
}

/// Why the service ended a socket or a stream.
#[derive(Debug, Clone, Copy)]
pub enum Disconnect {
    /// `QUEUE` broadcasts behind (4100; a stream ends, to be resumed).
    TooSlow,
    /// Its writes did not go out: it does not read (what it was sent, or the pongs to its pings).
    Unread,
    /// A message over the size limit (1009).
    TooLarge,
    /// Silent, and no pong to the server's ping (4201).
    NoPong,
    /// Too many subscriptions refused (4009).
    Refused,
    /// Frames faster than a client may send them (1008).
    Flood,
    /// The process is shutting down (4200; a stream ends, to be resumed elsewhere).
    Shutdown,
}

impl Disconnect {
    const ALL: [Disconnect; 7] = [
        Disconnect::TooSlow,
        Disconnect::Unread,
        Disconnect::TooLarge,
        Disconnect::NoPong,
        Disconnect::Refused,
        Disconnect::Flood,
        Disconnect::Shutdown,
    ];

    fn label(self) -> &'static str {
        match self {
            Disconnect::TooSlow => "too_slow",
            Disconnect::Unread => "unread",
            Disconnect::TooLarge => "too_large",
            Disconnect::NoPong => "no_pong",
            Disconnect::Refused => "refused",
            Disconnect::Flood => "flood",
            Disconnect::Shutdown => "shutdown",
        }
    }
}

pub fn disconnected(why: Disconnect) {
    metrics::counter!("broadcast_disconnects_total", "reason" => why.label()).increment(1);
}

fn describe() {
    metrics::describe_gauge!(
        "broadcast_subscriptions",
        "Channel subscriptions of this process's sockets"
    );
    metrics::describe_counter!(
        "broadcast_events_total",
        "Broadcasts sent (one per event and channel), by event"
    );
    metrics::describe_counter!(
        "broadcast_deliveries_total",
        "Broadcasts handed to a socket of this process"
    );
    metrics::describe_counter!(
        "broadcast_auth_refusals_total",
        "Subscriptions refused, by reason (app_key, channel, signature, forbidden)"
    );
    metrics::describe_counter!(
        "broadcast_disconnects_total",
        "Sockets and streams the service ended, by reason: too_slow, unread, too_large, no_pong, refused, flood, shutdown"
    );
    metrics::gauge!("broadcast_subscriptions").set(0.0);
    metrics::counter!("broadcast_auth_refusals_total", "reason" => "signature").absolute(0);
    for why in Disconnect::ALL {
        metrics::counter!("broadcast_disconnects_total", "reason" => why.label()).absolute(0);
    }
    metrics::counter!("broadcast_deliveries_total").absolute(0);
    metrics::describe_histogram!(
        "broadcast_fanout_lag_seconds",
        metrics::Unit::Seconds,
        "From a broadcast's append (or commit, without Redis) to its delivery by this instance"
    );
}
