//! Server-sent events for clients that are not Pusher clients (`GET /v1/events/stream`), and
//! what Reverb does not do: resume. Every event's `id` is a cursor, the position reached in
//! each of the stream's channels (`private-tenant.acme@1764500000000-0,private-policy.…@…`); a
//! client that reconnects with it as `Last-Event-ID` (EventSource does so by itself) first gets
//! what it missed from each channel's history, in order, then the live ones, none twice.
//!
//! The live subscription is made before the history is read, so nothing falls between the two;
//! a live message at or before the cursor is one the history already gave, and is skipped.
//!
//! A stream ends cleanly (its last event complete, so the client resumes from it) when it falls
//! too far behind, and when the process shuts down; channel names in it are canonical (policy
//! ids lower-case), whatever case the client asked with.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use futures::{Stream, stream};
use tokio::sync::mpsc;

use super::{Broadcasts, Disconnect, Message, admission::Refused, disconnected, position};
use crate::platform::error::{Error, Result};

/// The most channels one stream may follow.
pub const MAX_CHANNELS: usize = 20;

/// One event of the stream, with the cursor to resume after it.
pub struct Item {
    pub cursor: String,
    pub message: Arc<Message>,
}

/// Reads a `Last-Event-ID`: each channel's last position (unknown channels and junk ignored).
pub fn parse_cursor(text: &str) -> HashMap<String, (u64, u64)> {
    text.split(',')
        .filter_map(|part| part.rsplit_once('@'))
        .map(|(channel, id)| (channel.to_owned(), position(id)))
        .collect()
}

/// Each channel's position: what was delivered, or where its history stood when the stream
/// opened, whichever is later.
fn cursor_text(
    cursor: &HashMap<String, (u64, u64)>,
    floor: &HashMap<String, (u64, u64)>,
    order: &[String],
) -> String {
    order
        .iter()
        .filter_map(|c| {
            let at = cursor.get(c).copied().max(floor.get(c).copied())?;
            Some(format!("{c}@{}-{}", at.0, at.1))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Leaves the channels when the stream is dropped (the client went away).
struct Subscription {
    broadcasts: Arc<Broadcasts>,
    socket: u64,
    channels: Vec<String>,
    _admitted: super::admission::Admitted,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        for c in &self.channels {
            self.broadcasts.unsubscribe(self.socket, c);
        }
    }
}

struct State {
    _subscription: Subscription,
    closing: futures::future::BoxFuture<'static, ()>,
    replay: VecDeque<Arc<Message>>,
    live: mpsc::Receiver<Arc<Message>>,
    evicted: Arc<AtomicBool>,
    cursor: HashMap<String, (u64, u64)>,
    floor: HashMap<String, (u64, u64)>,
    order: Vec<String>,
}

/// How long a client refused for its tenant's cap is asked to wait.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// The stream of `tenant`'s `channels` (wire names, already authorised), resumed after
/// `last_event_id`; 503 when the instance holds all the streams it takes, 429 when the tenant
/// holds all it may.
pub async fn open(
    broadcasts: Arc<Broadcasts>,
    tenant: &str,
    channels: Vec<String>,
    last_event_id: Option<&str>,
) -> Result<impl Stream<Item = Item> + Send + 'static> {
    let admitted = broadcasts
        .admission
        .stream(tenant)
        .map_err(|why| match why {
            Refused::TenantStreams => Error::TooMany {
                what: "event streams of this tenant".into(),
                retry_after: RETRY_AFTER,
            },
            Refused::Streams | Refused::Sockets => {
                Error::Unavailable("too many event streams open here; retry".into())
            }
        })?;
    let (socket, to_me, live) = broadcasts.connect();
    let evicted = Arc::new(AtomicBool::new(false));
    for c in &channels {
        broadcasts.subscribe(socket, c, to_me.clone(), evicted.clone());
    }
    let subscription = Subscription {
        broadcasts: broadcasts.clone(),
        socket,
        channels: channels.clone(),
        _admitted: admitted,
    };
    let mut cursor: HashMap<String, (u64, u64)> = last_event_id
        .map(parse_cursor)
        .unwrap_or_default()
        .into_iter()
        .filter(|(c, _)| channels.contains(c))
        .collect();
    let mut missed = Vec::new();
    for (channel, at) in &cursor {
        missed.extend(broadcasts.after(channel, *at).await?);
    }
    missed.sort_by_key(|m| position(&m.id));
    // A channel the client has no position in starts now: every live message is sent (one
    // appended while this was being read included), and its cursor starts where the history
    // stood, so a resume never replays what came before the stream opened.
    let mut floor = HashMap::new();
    for c in &channels {
        if !cursor.contains_key(c) {
            floor.insert(c.clone(), broadcasts.last(c).await?);
            cursor.insert(c.clone(), (0, 0));
        }
    }
    let state = State {
        closing: Box::pin(broadcasts.closing()),
        _subscription: subscription,
        replay: missed.into(),
        live,
        evicted,
        cursor,
        floor,
        order: channels,
    };
    Ok(stream::unfold(state, |mut state| async move {
        loop {
            let message = match state.replay.pop_front() {
                Some(m) => m,
                None => {
                    if state.evicted.load(Ordering::Acquire) {
                        // Too slow: end it; the client resumes from its cursor.
                        return None;
                    }
                    tokio::select! {
                        live = state.live.recv() => live?,
                        _ = &mut state.closing => {
                            disconnected(Disconnect::Shutdown);
                            return None;
                        }
                    }
                }
            };
            let at = position(&message.id);
            let seen = state
                .cursor
                .get(&message.channel)
                .copied()
                .unwrap_or((0, 0));
            if at <= seen {
                continue;
            }
            state.cursor.insert(message.channel.clone(), at);
            let cursor = cursor_text(&state.cursor, &state.floor, &state.order);
            return Some((Item { cursor, message }, state));
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips() {
        let order = vec!["private-tenant.a".to_owned(), "private-policy.b".to_owned()];
        let cursor: HashMap<_, _> = [
            ("private-tenant.a".to_owned(), (17, 2)),
            ("private-policy.b".to_owned(), (18, 0)),
        ]
        .into();
        let floor: HashMap<_, _> = [("private-policy.b".to_owned(), (20, 1))].into();
        assert_eq!(
            cursor_text(&cursor, &floor, &order),
            "private-tenant.a@17-2,private-policy.b@20-1"
        );
        let text = cursor_text(&cursor, &HashMap::new(), &order);
        assert_eq!(text, "private-tenant.a@17-2,private-policy.b@18-0");
        assert_eq!(parse_cursor(&text), cursor);
        assert!(parse_cursor("junk").is_empty());
    }
}
