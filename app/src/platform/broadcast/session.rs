//! One Pusher socket's state: its subscriptions, under the names the client gave them, and the
//! subscriptions it was refused.
//!
//! **Names.** A client may write a channel as the rules allow, a policy id in capitals say (iOS
//! prints UUIDs so). The subscription is to the channel's canonical name (`Channels::canonical`),
//! where broadcasts go, and each broadcast is sent under every name the client subscribed with:
//! pusher-js hands an event only to the channel object of that exact name.
//!
//! **Refusals.** Each is counted (`broadcast_auth_refusals_total`). The socket is anonymous (the
//! app key is public), so its refusals must not become a flood of log lines crowding other
//! tenants' out of the shared log queue: the first on a socket is logged, the rest are summed up
//! in one line when it ends, and every such line goes through a throttle. After `MAX_REFUSALS`
//! the socket is closed (4009).
//!
//! **Floods.** A client sending frames faster than `FRAMES_PER_SECOND` (after a burst of
//! `FRAMES_AT_ONCE`) is closed (1008): each frame costs the server a read and often an answer.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use poem::web::websocket::Message as Frame;
use serde_json::Value;
use telemetry::throttle::Throttle;
use tokio::sync::mpsc;

use super::{
    Broadcasts, MAX_SUBSCRIPTIONS, Message,
    pusher::{error, frame},
    signature::Signer,
};

/// Refused subscriptions one socket may run into before it is closed.
const MAX_REFUSALS: u32 = 10;

/// Frames a client may send a second, on average, and at once. pusher-js sends a ping every
/// activity timeout and a subscription now and then; a client past this floods (pings it never
/// reads the pongs of, say) and is closed.
const FRAMES_PER_SECOND: f64 = 20.0;
const FRAMES_AT_ONCE: f64 = 100.0;

/// Lines about refused subscriptions, over every socket.
static REFUSAL_LOG: Throttle = Throttle::per_second(5);

pub struct Session<'a> {
    broadcasts: &'a Broadcasts,
    signer: &'a Signer,
    socket: u64,
    socket_id: String,
    to_me: mpsc::Sender<Arc<Message>>,
    mine: mpsc::Receiver<Arc<Message>>,
    evicted: Arc<AtomicBool>,
    /// Each name the client subscribed with, and the channel it stands for.
    joined: HashMap<String, String>,
    refusals: u32,
    /// Frames it may still send now (a token bucket), as of `counted`.
    allowance: f64,
    counted: Instant,
}

impl<'a> Session<'a> {
    pub fn open(broadcasts: &'a Broadcasts, signer: &'a Signer) -> Session<'a> {
        let (socket, to_me, mine) = broadcasts.connect();
        Session {
            broadcasts,
            signer,
            socket,
            socket_id: format!("{}.{socket}", rand::random::<u32>()),
            to_me,
            mine,
            evicted: Arc::new(AtomicBool::new(false)),
            joined: HashMap::new(),
            refusals: 0,
            allowance: FRAMES_AT_ONCE,
            counted: Instant::now(),
        }
    }

    /// Counts a frame from the client; false once it sends faster than it may.
    pub fn take_frame(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.counted).as_secs_f64() * FRAMES_PER_SECOND;
        self.allowance = (self.allowance + earned).min(FRAMES_AT_ONCE) - 1.0;
        self.counted = now;
        self.allowance >= 0.0
    }

    pub fn socket_id(&self) -> &str {
        &self.socket_id
    }

    pub async fn next_broadcast(&mut self) -> Option<Arc<Message>> {
        self.mine.recv().await
    }

    /// It fell `QUEUE` broadcasts behind.
    pub fn evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    pub fn refused_too_often(&self) -> bool {
        self.refusals >= MAX_REFUSALS
    }

    /// A broadcast, under each name the client subscribed to its channel with.
    pub fn frames_for(&self, message: &Message) -> Vec<Frame> {
        self.joined
            .iter()
            .filter(|(_, channel)| **channel == message.channel)
            .map(|(name, _)| {
                let out = serde_json::json!({ "event": message.event, "channel": name, "data": message.data });
                Frame::Text(out.to_string())
            })
            .collect()
    }

    /// The replies to one client message.
    pub fn handle(&mut self, text: &str) -> Vec<Frame> {
        let Ok(message) = serde_json::from_str::<Value>(text) else {
            return vec![error(4009, "not a Pusher message")];
        };
        let event = message["event"].as_str().unwrap_or_default();
        // pusher-js sends `data` as an object; some clients send it as a JSON string.
        let data = match &message["data"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            other => other.clone(),
        };
        match event {
            "pusher:ping" => vec![frame("pusher:pong", None, "{}".into())],
            "pusher:pong" => vec![],
            "pusher:subscribe" => {
                let name = data["channel"].as_str().unwrap_or_default();
                self.subscribe(name, data["auth"].as_str().unwrap_or_default())
            }
            "pusher:unsubscribe" => {
                if let Some(name) = data["channel"].as_str() {
                    self.unsubscribe(name);
                }
                vec![]
            }
            e if e.starts_with("client-") => {
                vec![error(4009, "client events are not accepted")]
            }
            _ => vec![],
        }
    }

    fn subscribe(&mut self, name: &str, auth: &str) -> Vec<Frame> {
        if self.joined.contains_key(name) {
            return vec![subscribed(name)];
        }
        let Some(wire) = self.broadcasts.channels.canonical(name) else {
            let which = format!("no such channel: {}", self.broadcasts.channels.which());
            return self.refuse("channel", name, &which);
        };
        // Signed as the client named it: that is the name `/broadcasting/auth` was given.
        if !self.signer.verify(&self.socket_id, name, auth) {
            return self.refuse("signature", name, "Connection is unauthorized");
        }
        if self.joined.len() >= MAX_SUBSCRIPTIONS {
            return vec![error(4009, "too many channels on one connection")];
        }
        if !self.joined.values().any(|c| *c == wire) {
            let (to, evicted) = (self.to_me.clone(), self.evicted.clone());
            self.broadcasts.subscribe(self.socket, &wire, to, evicted);
        }
        self.joined.insert(name.to_owned(), wire);
        vec![subscribed(name)]
    }

    fn unsubscribe(&mut self, name: &str) {
        if let Some(wire) = self.joined.remove(name)
            && !self.joined.values().any(|c| *c == wire)
        {
            self.broadcasts.unsubscribe(self.socket, &wire);
        }
    }

    fn refuse(&mut self, reason: &'static str, channel: &str, message: &str) -> Vec<Frame> {
        metrics::counter!("broadcast_auth_refusals_total", "reason" => reason).increment(1);
        self.refusals += 1;
        if self.refusals == 1
            && let Some(suppressed) = REFUSAL_LOG.admit()
        {
            tracing::info!(channel, reason, suppressed, "subscription refused");
        }
        vec![error(4009, message)]
    }

    /// Leaves every channel (the socket is closing), and sums up its refusals.
    pub fn leave(self) {
        let mut left: Vec<&String> = self.joined.values().collect();
        left.sort();
        left.dedup();
        for wire in left {
            self.broadcasts.unsubscribe(self.socket, wire);
        }
        if self.refusals > 1
            && let Some(suppressed) = REFUSAL_LOG.admit()
        {
            tracing::info!(
                refusals = self.refusals,
                suppressed,
                "socket closed after refused subscriptions"
            );
        }
    }
}

fn subscribed(channel: &str) -> Frame {
    frame(
        "pusher_internal:subscription_succeeded",
        Some(channel),
        "{}".into(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::platform::broadcast::{admission::Caps, channels::Channels};
    use crate::platform::outbox::Event;

    /// One family of channels, `private-tenant.*`, on which nothing is broadcast.
    struct TenantChannels;

    impl Channels for TenantChannels {
        fn canonical(&self, name: &str) -> Option<String> {
            name.starts_with("private-tenant.").then(|| name.to_owned())
        }

        fn of(&self, _: &Event, _: &str) -> Option<(Vec<String>, serde_json::Value)> {
            None
        }

        fn which(&self) -> &'static str {
            "only private-tenant.*"
        }
    }

    /// Counts the events logged under it.
    struct Lines(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Lines {
        fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            if let Ok(mut lines) = self.0.lock() {
                lines.push(e.metadata().name().to_owned());
            }
        }
    }

    /// An anonymous socket's refused subscriptions must not flood the log: 50 of them, sent
    /// regardless of the close that comes after ten, make two lines.
    #[test]
    fn a_socket_refused_again_and_again_logs_two_lines() {
        let broadcasts = Broadcasts::new(
            Arc::new(TenantChannels),
            None,
            10,
            Caps {
                sockets: 1,
                streams: 1,
                tenant_streams: 1,
            },
        );
        let signer = Signer::new("key", "secret".to_owned().into());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Lines(lines.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let mut session = Session::open(&broadcasts, &signer);
            let subscribe = r#"{"event":"pusher:subscribe","data":{"channel":"private-tenant.acme","auth":"key:00"}}"#;
            for _ in 0..50 {
                assert_eq!(session.handle(subscribe).len(), 1, "an error each");
            }
            assert!(session.refused_too_often());
            session.leave();
        });
        let lines = lines.lock().map(|l| l.len()).unwrap_or_default();
        assert_eq!(lines, 2, "the first refusal, then the sum at close");
    }
}
