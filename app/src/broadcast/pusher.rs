//! The Pusher protocol (v7) over WebSocket at `/app/{key}`, as laravel-echo and pusher-js speak
//! it to Laravel Reverb:
//!
//! - on connect: `pusher:connection_established` with the socket id and the activity timeout;
//! - `pusher:subscribe` `{channel, auth}` → `pusher_internal:subscription_succeeded`, or
//!   `pusher:error` 4009 when the signature is not this app's for this socket and channel (or the
//!   channel is not one of ours); `pusher:unsubscribe`;
//! - `pusher:ping` → `pusher:pong`; a client silent for the activity timeout is pinged, and closed
//!   (4201) if it stays silent another 30 s;
//! - broadcasts: `{"event": "PolicyBound", "channel": "private-tenant.acme", "data": "<json>"}`;
//! - errors that end the connection are close codes: 4001 (unknown app key), 4100 (too slow for
//!   its broadcasts, or over capacity: `BROADCAST_MAX_CONNECTIONS`), 4201 (no pong), 1009
//!   (message over 10 KB).
//!
//! Client events (`client-*`) are not accepted: the service is the only publisher.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use poem::{
    IntoResponse, handler,
    web::{
        Data, Path,
        websocket::{CloseCode, Message as Frame, WebSocket, WebSocketConfig, WebSocketStream},
    },
};
use serde_json::{Value, json};

use super::{Broadcasts, MAX_SUBSCRIPTIONS, channels::Channel, signature::Signer};
use crate::state::AppState;

/// Seconds of client silence before the server pings (what `connection_established` says).
pub const ACTIVITY_TIMEOUT: u64 = 30;
/// Then how long a pong may take.
const PONG_WITHIN: Duration = Duration::from_secs(30);
/// The largest message a client may send.
const MAX_MESSAGE: usize = 10_000;
/// The longest one write to a client may take; a client that stops reading is closed.
const WRITE_WITHIN: Duration = Duration::from_secs(10);

#[handler]
pub fn upgrade(
    Path(key): Path<String>,
    ws: WebSocket,
    Data(state): Data<&Arc<AppState>>,
) -> impl IntoResponse {
    let state = state.clone();
    // Larger messages are refused while they are read, not after they are buffered.
    let limits = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    ws.config(limits)
        .on_upgrade(move |stream| session(state, key, stream))
}

fn frame(event: &str, channel: Option<&str>, data: Value) -> Frame {
    let mut out = json!({ "event": event, "data": data });
    if let Some(channel) = channel {
        out["channel"] = channel.into();
    }
    Frame::Text(out.to_string())
}

/// Pusher sends `data` as a JSON string.
fn error(code: u16, message: &str) -> Frame {
    frame(
        "pusher:error",
        None,
        json!({ "code": code, "message": message })
            .to_string()
            .into(),
    )
}

async fn session(state: Arc<AppState>, key: String, stream: WebSocketStream) {
    let (mut sink, mut incoming) = stream.split();
    let broadcasts = &state.broadcasts;
    if key != state.signer.key() {
        metrics::counter!("broadcast_auth_refusals_total", "reason" => "app_key").increment(1);
        sink.send(error(4001, "Application does not exist"))
            .await
            .ok();
        sink.send(Frame::Close(Some((
            CloseCode::from(4001),
            "unknown app key".into(),
        ))))
        .await
        .ok();
        return;
    }
    let Some(_opened) = broadcasts.open("pusher") else {
        sink.send(error(4100, "Over capacity")).await.ok();
        sink.send(Frame::Close(Some((
            CloseCode::from(4100),
            "over capacity".into(),
        ))))
        .await
        .ok();
        return;
    };
    let (socket, to_me, mut mine) = broadcasts.connect();
    let evicted = Arc::new(AtomicBool::new(false));
    let socket_id = format!("{}.{socket}", rand::random::<u32>());
    let established = json!({ "socket_id": socket_id, "activity_timeout": ACTIVITY_TIMEOUT });
    if sink
        .send(frame(
            "pusher:connection_established",
            None,
            established.to_string().into(),
        ))
        .await
        .is_err()
    {
        return;
    }
    let mut joined: HashSet<String> = HashSet::new();
    let mut heard = Instant::now();
    let mut pinged = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let close = loop {
        tokio::select! {
            got = incoming.next() => match got {
                Some(Ok(Frame::Text(text))) => {
                    heard = Instant::now();
                    pinged = false;
                    if text.len() > MAX_MESSAGE {
                        break Some((CloseCode::Size, "message too large"));
                    }
                    let replies = handle(&text, &socket_id, socket, &to_me, &evicted, &mut joined, broadcasts, &state.signer);
                    for reply in replies {
                        if !write(&mut sink, reply).await {
                            break;
                        }
                    }
                }
                Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => break None,
                Some(Ok(_)) => heard = Instant::now(),
            },
            Some(message) = mine.recv() => {
                let out = json!({ "event": message.event, "channel": message.channel, "data": message.data });
                if !write(&mut sink, Frame::Text(out.to_string())).await {
                    break None;
                }
            },
            _ = tick.tick() => {
                if evicted.load(Ordering::Acquire) {
                    break Some((CloseCode::from(4100), "too slow for its broadcasts"));
                }
                let silent = heard.elapsed();
                if pinged && silent > Duration::from_secs(ACTIVITY_TIMEOUT) + PONG_WITHIN {
                    break Some((CloseCode::from(4201), "pong reply not received"));
                }
                if !pinged && silent > Duration::from_secs(ACTIVITY_TIMEOUT) {
                    pinged = true;
                    if !write(&mut sink, frame("pusher:ping", None, "{}".into())).await {
                        break None;
                    }
                }
            }
        }
    };
    if let Some((code, reason)) = close {
        sink.send(Frame::Close(Some((code, reason.into()))))
            .await
            .ok();
    }
    for channel in &joined {
        broadcasts.unsubscribe(socket, channel);
    }
}

/// Sends one frame within `WRITE_WITHIN`; false if the client is gone or not reading.
async fn write(sink: &mut (impl SinkExt<Frame> + Unpin), frame: Frame) -> bool {
    matches!(
        tokio::time::timeout(WRITE_WITHIN, sink.send(frame)).await,
        Ok(Ok(()))
    )
}

/// The replies to one client message.
#[allow(clippy::too_many_arguments)]
fn handle(
    text: &str,
    socket_id: &str,
    socket: u64,
    to_me: &tokio::sync::mpsc::Sender<Arc<super::Message>>,
    evicted: &Arc<AtomicBool>,
    joined: &mut HashSet<String>,
    broadcasts: &Broadcasts,
    signer: &Signer,
) -> Vec<Frame> {
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
            let channel = data["channel"].as_str().unwrap_or_default();
            let auth = data["auth"].as_str().unwrap_or_default();
            if joined.contains(channel) {
                return vec![subscribed(channel)];
            }
            if Channel::parse(channel).is_none() {
                metrics::counter!("broadcast_auth_refusals_total", "reason" => "channel")
                    .increment(1);
                return vec![error(
                    4009,
                    "no such channel: only private-tenant.* and private-policy.*",
                )];
            }
            if !signer.verify(socket_id, channel, auth) {
                metrics::counter!("broadcast_auth_refusals_total", "reason" => "signature")
                    .increment(1);
                tracing::info!(channel, "subscription refused: bad signature");
                return vec![error(4009, "Connection is unauthorized")];
            }
            if joined.len() >= MAX_SUBSCRIPTIONS {
                return vec![error(4009, "too many channels on one connection")];
            }
            broadcasts.subscribe(socket, channel, to_me.clone(), evicted.clone());
            joined.insert(channel.to_owned());
            vec![subscribed(channel)]
        }
        "pusher:unsubscribe" => {
            if let Some(channel) = data["channel"].as_str()
                && joined.remove(channel)
            {
                broadcasts.unsubscribe(socket, channel);
            }
            vec![]
        }
        e if e.starts_with("client-") => {
            vec![error(4009, "client events are not accepted")]
        }
        _ => vec![],
    }
}

fn subscribed(channel: &str) -> Frame {
    frame(
        "pusher_internal:subscription_succeeded",
        Some(channel),
        "{}".into(),
    )
}
