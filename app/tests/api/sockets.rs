//! The Pusher socket under abuse: anyone with the public app key may open one, so what one
//! costs and what a client can make it hold are measured on a `serve` process of its own
//! (resident memory read from /proc), with `/health/live` asked throughout.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

use crate::{
    broadcasting::{authorize, connect, data, next, subscribe},
    support::measure::{HealthWatch, rss_kib},
    support::{Engine, PATIENCE, spawn_app, spawn_with},
};

/// The Deployment's memory limit (deploy/kustomize/base/serve/deployment.yaml).
const POD_LIMIT_KIB: u64 = 512 * 1024;

/// A raw socket through the WebSocket handshake, its receive buffer as small as the kernel
/// allows when `small_window` (so the server cannot park what it sends in ours).
async fn raw_socket(address: &str, small_window: bool) -> TcpStream {
    let addr = address.trim_start_matches("http://").parse().expect("addr");
    let socket = TcpSocket::new_v4().expect("socket");
    if small_window {
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    }
    let mut stream = socket.connect(addr).await.expect("connects");
    stream
        .write_all(
            b"GET /app/policy-service HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .expect("handshake sent");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream
            .read_exact(&mut byte)
            .await
            .expect("handshake answer");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// Masked ping frames (the mask is zero, so the payload goes as is), 125 bytes of payload each:
/// about a MiB.
fn pings() -> Vec<u8> {
    let mut frame = vec![0x89, 0x80 | 125, 0, 0, 0, 0];
    frame.extend_from_slice(&[b'p'; 125]);
    frame.repeat(8000)
}

/// Issue 23 (1): a client that floods pings and never reads made the server queue a pong for
/// each without bound (hundreds of MiB in seconds). Now at most 64 KiB wait for a client, and a
/// client that sends frames faster than any Pusher client does is closed (1008).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_that_never_reads_is_closed_and_costs_no_memory() {
    let app = spawn_app(Engine::Sqlite).await;
    let server = app.replica_process(&[]).await;
    let health = HealthWatch::start(&server.address);
    let before = rss_kib(server.pid());
    let mut socket = raw_socket(&server.address, true).await;
    let burst = pings();
    let (mut sent, mut peak) = (0usize, before);
    while sent < 256 << 20 {
        let wrote = tokio::time::timeout(PATIENCE, socket.write_all(&burst)).await;
        peak = peak.max(rss_kib(server.pid()));
        match wrote {
            Ok(Ok(())) => sent += burst.len(),
            // Closed by the server (reset), or it stopped reading: done either way.
            _ => break,
        }
    }
    let grown = peak.saturating_sub(before);
    println!(
        "ping flood: {} MiB of pings sent before the socket closed; resident memory {} → peak {} MiB (+{grown} KiB)",
        sent >> 20,
        before / 1024,
        peak / 1024
    );
    assert!(sent < 256 << 20, "the flooding socket was never closed");
    assert!(
        grown < 32 * 1024,
        "the process grew {grown} KiB under a ping flood"
    );
    let closed = server
        .metric("broadcast_disconnects_total{reason=\"flood\"}")
        .await;
    assert!(closed >= 1.0, "the close is counted: {closed}");
    health.finish("ping flood").await;
}

/// Issue 23 (2): an idle socket cost ~120 KiB (tungstenite's default read buffer, filled on the
/// first read), so the 10,000-socket cap was reached only past the pod's memory limit. This
/// measures what one costs now, and that the cap binds first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_are_cheap_enough_for_the_cap_to_bind_first() {
    const SOCKETS: usize = 1000;
    let app = spawn_app(Engine::Sqlite).await;
    let server = app.replica_process(&[]).await;
    // Warm up the allocator and the runtime with a first batch, closed again.
    for _ in 0..50 {
        drop(raw_socket(&server.address, false).await);
    }
    let gauge = "broadcast_connections{protocol=\"pusher\"}";
    let quiet = Instant::now() + PATIENCE;
    while server.metric(gauge).await > 0.0 && Instant::now() < quiet {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = rss_kib(server.pid());
    let mut sockets = Vec::with_capacity(SOCKETS);
    for _ in 0..SOCKETS {
        let mut s = raw_socket(&server.address, false).await;
        // `connection_established`: the session is running, its first read done.
        let mut hello = [0u8; 64];
        assert!(s.read(&mut hello).await.expect("hello") > 0);
        sockets.push(s);
    }
    let open = Instant::now() + PATIENCE;
    while server.metric(gauge).await < SOCKETS as f64 && Instant::now() < open {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = rss_kib(server.pid());
    let per_socket = after.saturating_sub(before) / SOCKETS as u64;
    let cap = 10_000; // BROADCAST_MAX_CONNECTIONS's default
    println!(
        "idle sockets: {SOCKETS} cost {} KiB, {per_socket} KiB each; at the cap of {cap}: {} MiB over a base of {} MiB",
        after.saturating_sub(before),
        per_socket * cap / 1024,
        before / 1024
    );
    assert!(per_socket <= 16, "an idle socket costs {per_socket} KiB");
    assert!(
        before + per_socket * cap < POD_LIMIT_KIB / 2,
        "the socket cap would not bind before half the pod's memory"
    );
    drop(sockets);
}

/// Issue 23 (9): a message over 10 KB is closed with 1009 (a close frame, not a dropped
/// connection that pusher-js sees as 1006), and a client's close frame is answered.
#[tokio::test]
async fn an_oversized_message_gets_1009_and_a_close_gets_its_answer() {
    let app = spawn_app(Engine::Sqlite).await;
    let (mut ws, _) = connect(&app, "policy-service").await;
    ws.send(Message::Text("x".repeat(20_000).into()))
        .await
        .expect("sent");
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Size));

    let (mut ws, _) = connect(&app, "policy-service").await;
    ws.send(Message::Close(None)).await.expect("close sent");
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Status));
}

/// The code of the close frame the server sends (`Status` for one without a code).
async fn close_code(ws: &mut crate::broadcasting::Socket) -> Option<CloseCode> {
    let until = Instant::now() + PATIENCE;
    while Instant::now() < until {
        match tokio::time::timeout(PATIENCE, ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Some(frame.map_or(CloseCode::Status, |f| f.code));
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
    None
}

/// Issue 23 (10): refused subscriptions from an anonymous socket were logged a line each,
/// without end. Now they are counted, the socket is closed after ten (4009), and one line
/// sums them up.
#[tokio::test]
async fn a_socket_that_keeps_being_refused_is_closed() {
    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    let (mut ws, _) = connect(&app, "policy-service").await;
    let channel = format!("private-tenant.{}", t.slug);
    let mut refused = 0;
    let code = loop {
        let message = json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": "policy-service:00"}});
        if ws
            .send(Message::Text(message.to_string().into()))
            .await
            .is_err()
        {
            break None;
        }
        match tokio::time::timeout(PATIENCE, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                assert!(text.contains("pusher:error"), "{text}");
                refused += 1;
                assert!(refused <= 10, "refused more than ten times and still open");
            }
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| f.code),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(refused, 10);
    assert_eq!(code, Some(CloseCode::from(4009)));
}

/// Issue 23 (8): a policy channel named with the id in capitals was signed on MariaDB (which
/// compares ids without case) and refused on SQLite, and once subscribed heard nothing, since
/// broadcasts go to the lower-case name. Now the name is read as its lower-case channel on
/// both engines, and broadcasts reach the client under the name it subscribed with.
async fn a_policy_channel_in_capitals_hears_its_broadcasts(engine: Engine) {
    let app = spawn_with(engine, &[]).await;
    let t = app.tenant().await;
    let policy = t.bound_policy().await;
    let id = policy["id"].as_str().expect("id");
    let shouted = format!("private-policy.{}", id.to_uppercase());
    let (mut ws, socket_id) = connect(&app, "policy-service").await;
    let auth = authorize(&t, &socket_id, &shouted).await;
    let auth = auth.ok(200)["auth"].as_str().expect("auth").to_owned();
    let joined = subscribe(&mut ws, &shouted, &auth).await;
    assert_eq!(joined["event"], "pusher_internal:subscription_succeeded");
    assert_eq!(joined["channel"], shouted.as_str());
    t.action(&format!("/v1/policies/{id}/activate"))
        .await
        .ok(200);
    // The bind's own broadcast may be relayed after the subscription: every one comes under
    // the name the client joined with.
    loop {
        let got = next(&mut ws).await;
        assert_eq!(
            got["channel"],
            shouted.as_str(),
            "under the name it joined with"
        );
        assert_eq!(data(&got)["policy_id"], id);
        if got["event"] == "PolicyActivated" {
            break;
        }
        assert_eq!(got["event"], "PolicyBound");
    }
}

crate::both_engines!(a_policy_channel_in_capitals_hears_its_broadcasts);
