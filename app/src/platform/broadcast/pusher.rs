//! The Pusher protocol (v7) over WebSocket at `/app/{key}`, as laravel-echo and pusher-js speak
//! it to Laravel Reverb:
//!
//! - on connect: `pusher:connection_established` with the socket id and the activity timeout;
//! - `pusher:subscribe` `{channel, auth}` → `pusher_internal:subscription_succeeded`, or
//!   `pusher:error` 4009 when the signature is not this app's for this socket and channel (or the
//!   channel is not one of ours); `pusher:unsubscribe`;
//! - `pusher:ping` → `pusher:pong`; a client silent for the activity timeout is pinged, and closed
//!   (4201) if it stays silent another 30 s;
//! - broadcasts: `{"event": "PolicyBound", "channel": "private-tenant.acme", "data": "<json>"}`,
//!   named as the client named the channel when it subscribed (`session.rs`);
//! - errors that end the connection are close codes: 4001 (unknown app key), 4009 (too many
//!   subscriptions refused), 4100 (too slow for its broadcasts, or over capacity:
//!   `BROADCAST_MAX_CONNECTIONS`), 4200 (the server is shutting down: reconnect), 4201 (no
//!   pong), 1008 (frames faster than it may send), 1009 (message over 10 KB). A client's own
//!   close frame is answered with one.
//!
//! Client events (`client-*`) are not accepted: the service is the only publisher.
//!
//! **Memory.** The app key is public, so anyone may open sockets: each must cost little, and
//! nothing a client does may grow it. tungstenite's defaults suit a few busy sockets (a 128 KiB
//! read buffer, filled on the first read, and a write buffer without a bound): here the read
//! buffer is sized for Pusher's small messages, and at most `MAX_UNSENT` bytes wait for a client:
//! past it, tungstenite keeps only the latest pong (to a client that floods pings and never
//! reads), and a broadcast that cannot be written within `WRITE_WITHIN` closes the socket.

use std::{sync::Arc, time::Duration};

use futures::{SinkExt, StreamExt};
use poem::{
    IntoResponse, handler,
    web::{
        Data, Path,
        websocket::{CloseCode, Message as Frame, WebSocket, WebSocketConfig, WebSocketStream},
    },
};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Disconnect, disconnected, session::Session};
use crate::platform::Platform;

/// Seconds of client silence before the server pings (what `connection_established` says).
pub const ACTIVITY_TIMEOUT: u64 = 30;
/// Then how long a pong may take.
const PONG_WITHIN: Duration = Duration::from_secs(30);
/// The largest message a client may send.
const MAX_MESSAGE: usize = 10_000;
/// The longest one write to a client may take; a client that stops reading is closed.
const WRITE_WITHIN: Duration = Duration::from_secs(10);
/// What a socket reads into; a larger message grows it while it is read.
const READ_BUFFER: usize = 4 * 1024;
/// Bytes waiting to be written to one client, at most.
const MAX_UNSENT: usize = 64 * 1024;

#[handler]
pub fn upgrade(
    Path(key): Path<String>,
    ws: WebSocket,
    Data(state): Data<&Arc<Platform>>,
) -> impl IntoResponse {
    let state = state.clone();
    // Larger messages are refused while they are read, not after they are buffered. Each frame
    // is written at once (no write buffering), so what waits is only what the client has not
    // taken.
    let limits = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_UNSENT)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    ws.config(limits)
        .on_upgrade(move |stream| session(state, key, stream))
}

pub fn frame(event: &str, channel: Option<&str>, data: Value) -> Frame {
    let mut out = json!({ "event": event, "data": data });
    if let Some(channel) = channel {
        out["channel"] = channel.into();
    }
    Frame::Text(out.to_string())
}

/// Pusher sends `data` as a JSON string.
pub fn error(code: u16, message: &str) -> Frame {
    frame(
        "pusher:error",
        None,
        json!({ "code": code, "message": message })
            .to_string()
            .into(),
    )
}

/// Sends an error, then closes with its code.
async fn refuse(sink: &mut (impl SinkExt<Frame> + Unpin), code: u16, message: &str, why: &str) {
    sink.send(error(code, message)).await.ok();
    sink.send(Frame::Close(Some((CloseCode::from(code), why.into()))))
        .await
        .ok();
}

async fn session(state: Arc<Platform>, key: String, stream: WebSocketStream) {
    let (mut sink, mut incoming) = stream.split();
    let broadcasts = &state.broadcasts;
    if key != state.signer.key() {
        metrics::counter!("broadcast_auth_refusals_total", "reason" => "app_key").increment(1);
        refuse(
            &mut sink,
            4001,
            "Application does not exist",
            "unknown app key",
        )
        .await;
        return;
    }
    let Ok(_admitted) = broadcasts.admission.socket() else {
        refuse(&mut sink, 4100, "Over capacity", "over capacity").await;
        return;
    };
    let mut s = Session::open(broadcasts, &state.signer);
    let established = json!({ "socket_id": s.socket_id(), "activity_timeout": ACTIVITY_TIMEOUT });
    let hello = frame(
        "pusher:connection_established",
        None,
        established.to_string().into(),
    );
    if !write(&mut sink, hello).await {
        return;
    }
    let closing = broadcasts.closing();
    tokio::pin!(closing);
    let mut heard = Instant::now();
    let mut pinged = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // The close frame to send, if any: none to a client that is gone or does not read.
    let close: Option<(u16, &str)> = loop {
        tokio::select! {
            got = incoming.next() => match got {
                Some(Ok(_)) if !s.take_frame() => {
                    disconnected(Disconnect::Flood);
                    break Some((1008, "sending too fast"));
                }
                Some(Ok(Frame::Text(text))) => {
                    heard = Instant::now();
                    pinged = false;
                    let mut sent = true;
                    for reply in s.handle(&text) {
                        sent = sent && write(&mut sink, reply).await;
                    }
                    if !sent {
                        break unread();
                    }
                    if s.refused_too_often() {
                        disconnected(Disconnect::Refused);
                        break Some((4009, "too many subscriptions refused"));
                    }
                }
                Some(Ok(Frame::Close(_))) => {
                    // tungstenite has queued the reply to it; send it before going.
                    tokio::time::timeout(WRITE_WITHIN, sink.flush()).await.ok();
                    break None;
                }
                Some(Err(e)) if too_large(&e) => {
                    disconnected(Disconnect::TooLarge);
                    break Some((1009, "message too large"));
                }
                // Gone, or broke the protocol.
                Some(Err(_)) => break None,
                None => break None,
                Some(Ok(_)) => heard = Instant::now(),
            },
            Some(message) = s.next_broadcast() => {
                let mut sent = true;
                for out in s.frames_for(&message) {
                    sent = sent && write(&mut sink, out).await;
                }
                if !sent {
                    break unread();
                }
            },
            _ = tick.tick() => {
                if s.evicted() {
                    // Counted where it fell behind (`Broadcasts::deliver`).
                    break Some((4100, "too slow for its broadcasts"));
                }
                let silent = heard.elapsed();
                if pinged && silent > Duration::from_secs(ACTIVITY_TIMEOUT) + PONG_WITHIN {
                    disconnected(Disconnect::NoPong);
                    break Some((4201, "pong reply not received"));
                }
                if !pinged && silent > Duration::from_secs(ACTIVITY_TIMEOUT) {
                    pinged = true;
                    if !write(&mut sink, frame("pusher:ping", None, "{}".into())).await {
                        break unread();
                    }
                }
            },
            _ = &mut closing => {
                disconnected(Disconnect::Shutdown);
                break Some((4200, "server shutting down: reconnect"));
            },
        }
    };
    if let Some((code, reason)) = close {
        let close = Frame::Close(Some((CloseCode::from(code), reason.into())));
        tokio::time::timeout(WRITE_WITHIN, sink.send(close))
            .await
            .ok();
    }
    s.leave();
}

/// A write that did not go out within `WRITE_WITHIN`: the client does not read.
fn unread() -> Option<(u16, &'static str)> {
    disconnected(Disconnect::Unread);
    None
}

/// A read failed on a message over the limit (tungstenite's capacity error, which poem hands
/// over as text).
fn too_large(e: &std::io::Error) -> bool {
    e.to_string().starts_with("Space limit exceeded")
}

/// Sends one frame within `WRITE_WITHIN`; false if the client is gone or not reading.
async fn write(sink: &mut (impl SinkExt<Frame> + Unpin), frame: Frame) -> bool {
    matches!(
        tokio::time::timeout(WRITE_WITHIN, sink.send(frame)).await,
        Ok(Ok(()))
    )
}
