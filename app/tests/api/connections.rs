//! The server's own limits, against real sockets: half-sent request lines, idle keep-alive
//! connections, and more connections than it takes at once.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{Engine, TestApp, spawn_with};

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.address.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connects")
}

/// Reads until the server closes the connection; returns what it sent and when it closed.
async fn until_closed(mut socket: TcpStream, limit: Duration) -> (String, Option<Instant>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let give_up = Instant::now() + limit;
    loop {
        let left = give_up.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&seen).into(), Some(Instant::now()));
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&seen).into(), None),
        }
    }
}

/// 200 sockets that send half a request line, and one that sends nothing: all closed once the
/// header-read timeout passes, while a real request is served meanwhile.
#[tokio::test]
async fn half_sent_requests_are_closed_after_the_header_timeout() {
    let app = spawn_with(Engine::Sqlite, &["--http-header-read-timeout-secs", "1"]).await;
    let started = Instant::now();
    let mut sockets = Vec::new();
    for _ in 0..200 {
        let mut s = connect(&app).await;
        s.write_all(b"GET /health/li").await.unwrap();
        sockets.push(s);
    }
    sockets.push(connect(&app).await);
    let live = app
        .http
        .get(format!("{}/health/live", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let closed = futures::future::join_all(
        sockets
            .into_iter()
            .map(|s| until_closed(s, Duration::from_secs(10))),
    )
    .await;
    for (sent, at) in closed {
        let at = at.expect("a half-open socket was never closed");
        assert!(
            at - started >= Duration::from_millis(900),
            "closed too soon"
        );
        assert!(sent.is_empty(), "answered a request never finished: {sent}");
    }
}

/// A kept-alive connection is reused while it works, and closed once idle for the keep-alive.
#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let app = spawn_with(Engine::Sqlite, &["--http-keep-alive-secs", "1"]).await;
    let mut socket = connect(&app).await;
    let request = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n";
    for _ in 0..3 {
        socket.write_all(request).await.unwrap();
        let mut buf = [0u8; 1024];
        let n = socket.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
    let idle_from = Instant::now();
    let (_, at) = until_closed(socket, Duration::from_secs(10)).await;
    let idle = at.expect("an idle connection was never closed") - idle_from;
    assert!(idle >= Duration::from_millis(900), "closed after {idle:?}");
}

/// Past HTTP_MAX_CONNECTIONS, a new connection waits (in the backlog) until one closes.
#[tokio::test]
async fn connections_beyond_the_limit_wait_their_turn() {
    let app = spawn_with(
        Engine::Sqlite,
        &[
            "--http-max-connections",
            "2",
            "--http-keep-alive-secs",
            "60",
        ],
    )
    .await;
    let held = [connect(&app).await, connect(&app).await];
    // Both slots are taken by idle connections: a third request is not served...
    let third = app.http.get(format!("{}/health/live", app.address)).send();
    tokio::pin!(third);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut third)
            .await
            .is_err(),
        "a third connection was served beyond the limit of 2"
    );
    // ...until one of them goes.
    drop(held);
    let served = tokio::time::timeout(Duration::from_secs(5), third).await;
    assert_eq!(
        served.expect("served once a slot freed").unwrap().status(),
        200
    );
}
