//! The server's own limits, against real sockets: half-sent request lines, idle keep-alive
//! connections, more connections than it takes at once, and clients too slow to send their
//! body or to read their response.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    support::replica::Replica,
    support::{Engine, PATIENCE, TenantClient, TestApp, spawn_with},
};

async fn connect(app: &TestApp) -> TcpStream {
    connect_to(&app.address).await
}

async fn connect_to(address: &str) -> TcpStream {
    let addr = address.trim_start_matches("http://");
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
    let closed =
        futures::future::join_all(sockets.into_iter().map(|s| until_closed(s, PATIENCE))).await;
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
    let (_, at) = until_closed(socket, PATIENCE).await;
    let idle = at.expect("an idle connection was never closed") - idle_from;
    assert!(idle >= Duration::from_millis(900), "closed after {idle:?}");
}

/// Past HTTP_MAX_CONNECTIONS, the probes are still answered and anything else is shed with
/// 503 and `Retry-After` (on connections taken in for the probes); once a slot frees, requests
/// are served again. On a `serve` process, whose /metrics count what the server does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_limit_probes_are_answered_and_the_rest_is_shed() {
    let app = spawn_with(Engine::Sqlite, &[]).await;
    let server = app
        .replica_process(&[
            "--http-max-connections",
            "2",
            "--http-keep-alive-secs",
            "60",
        ])
        .await;
    // Every request on a connection of its own, as a probe comes.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let t = TenantClient {
        http: fresh.clone(),
        ..server.client(&app.tenant().await)
    };
    let held = [
        connect_to(&server.address).await,
        connect_to(&server.address).await,
    ];
    // Both slots are taken by idle connections once the one asking is counted beside them.
    let until = Instant::now() + PATIENCE;
    while server.metric("http_server_connections ").await < 3.0 {
        assert!(
            Instant::now() < until,
            "the held connections were never counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for probe in ["/health/live", "/health/ready"] {
        let r = fresh.get(format!("{}{probe}", server.address)).send().await;
        assert_eq!(r.expect("probe").status(), 200, "{probe}");
    }
    let shed = t.get("/v1/insureds").await;
    shed.problem(503, None);
    assert_eq!(
        shed.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let counted = server
        .metric("http_server_connections_closed_total{reason=\"overloaded\"}")
        .await;
    assert!(counted >= 1.0, "shedding is counted");
    drop(held);
    let until = Instant::now() + PATIENCE;
    while t.get("/v1/insureds").await.status != 200 {
        assert!(
            Instant::now() < until,
            "never served again once the slots freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `serve` process that closes clients below 1,000 bytes a second once they owe a second.
async fn strict_server(app: &TestApp) -> Replica {
    app.replica_process(&[
        "--http-min-data-rate",
        "1000",
        "--http-min-data-rate-grace-secs",
        "1",
    ])
    .await
}

/// Waits (30 s at most) for the server to count a slow client it closed.
async fn counted_slow(server: &Replica) {
    let series = "http_server_connections_closed_total{reason=\"slow_client\"}";
    let until = Instant::now() + PATIENCE;
    while server.metric(series).await < 1.0 {
        assert!(Instant::now() < until, "no slow client was counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Issue 23 (3): a request body sent a byte at a time held its slot for as long as the client
/// liked. Below HTTP_MIN_DATA_RATE, once the grace is owed, the connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_by_the_drop_is_cut_off() {
    let app = spawn_with(Engine::Sqlite, &[]).await;
    let t = app.tenant().await;
    let server = strict_server(&app).await;
    let mut socket = connect_to(&server.address).await;
    let head = format!(
        "POST /v1/insureds HTTP/1.1\r\nHost: x\r\nX-Consumer-ID: c\r\nX-Authenticated-Userid: u\r\n\
         X-Consumer-Custom-ID: {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        t.slug
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < PATIENCE {
        // A byte every 200 ms: 5 B/s, far below 1,000.
        if socket.write_all(b" ").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(200), socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "a trickling body was never cut off");
    counted_slow(&server).await;
    // A client at speed is not.
    server
        .client(&t)
        .post(
            "/v1/insureds",
            serde_json::json!({"full_name": "Fast Client", "email": "fast@example.com"}),
        )
        .await
        .ok(201);
}

/// Issue 23 (3): a client that never reads its response held its slot (and the response's
/// buffers) for good. Once the service has waited on it past the grace, it is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_response_is_cut_off() {
    let app = spawn_with(Engine::Sqlite, &[]).await;
    let t = app.tenant().await;
    let policy = t.bound_policy().await;
    let pdf = [b"%PDF-1.7\n".as_slice(), &vec![b'x'; 4 << 20]].concat();
    let form = reqwest::multipart::Form::new().text("type", "other").part(
        "file",
        reqwest::multipart::Part::bytes(pdf).file_name("big.pdf"),
    );
    let id = policy["id"].as_str().expect("id");
    let path = format!("/v1/policies/{id}/documents");
    let document = t
        .send(t.request(reqwest::Method::POST, &path).multipart(form))
        .await
        .id();
    let server = strict_server(&app).await;
    // A small receive window, and nothing read: the 4 MiB download stalls at once.
    let addr = server
        .address
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut socket = socket.connect(addr).await.expect("connects");
    let head = format!(
        "GET /v1/documents/{document}/content HTTP/1.1\r\nHost: x\r\nX-Consumer-ID: c\r\n\
         X-Authenticated-Userid: u\r\nX-Consumer-Custom-ID: {}\r\n\r\n",
        t.slug
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    counted_slow(&server).await;
    drop(socket);
}
