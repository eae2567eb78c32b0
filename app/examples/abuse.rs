//! Issue 23's abuse, at full size, against one running `serve`: each attack in turn while
//! `/health/live` is asked every 20 ms on a connection of its own (as the kubelet does) and the
//! server's resident memory is read from /proc every 20 ms. Prints one row per attack: the
//! slowest and median probe, probes unanswered, peak memory, and what the server did.
//! `loadtests/abuse.sh` builds and starts the server and runs it.
//!
//!   abuse URL PID DOCUMENT TENANT [TENANT…]
//!
//! DOCUMENT is a document of the first tenant (a few MiB) that non-reading clients download.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};
use tokio_tungstenite::{connect_async, tungstenite::Message};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Target {
    base: String,
    addr: std::net::SocketAddr,
    pid: u32,
    document: String,
    tenants: Vec<String>,
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let kib: f64 = s
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(kib / 1024.0)
        })
        .unwrap_or(0.0)
}

/// CPU time (user + system, s) process `pid` has used.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// Probes, memory and CPU, sampled while an attack runs.
struct Watch {
    stop: Arc<AtomicBool>,
    pid: u32,
    started: (Instant, f64),
    peak_kib: Arc<AtomicU64>,
    probes: tokio::task::JoinHandle<Vec<Option<Duration>>>,
    memory: tokio::task::JoinHandle<()>,
}

impl Watch {
    fn start(t: &Target) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kib = Arc::new(AtomicU64::new(0));
        let (flag, url) = (stop.clone(), format!("{}/health/live", t.base));
        let probes = tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("client");
            let (mut seen, begun) = (Vec::new(), Instant::now());
            while !flag.load(Ordering::SeqCst) {
                let started = Instant::now();
                let answer =
                    tokio::time::timeout(Duration::from_secs(1), http.get(&url).send()).await;
                let ok = matches!(answer, Ok(Ok(ref r)) if r.status() == 200);
                let took = started.elapsed();
                if !ok || took > Duration::from_millis(100) {
                    let at = (started - begun).as_secs_f64();
                    let answer = match answer {
                        Ok(Ok(r)) => r.status().to_string(),
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "no answer in 1 s".to_owned(),
                    };
                    eprintln!("  a slow probe, {at:.1} s in: {took:?}, {answer}");
                }
                seen.push(ok.then_some(took));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        });
        let (flag, peak, pid) = (stop.clone(), peak_kib.clone(), t.pid);
        let memory = tokio::spawn(async move {
            while !flag.load(Ordering::SeqCst) {
                peak.fetch_max((rss_mib(pid) * 1024.0) as u64, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Watch {
            stop,
            pid: t.pid,
            started: (Instant::now(), cpu_secs(t.pid)),
            peak_kib,
            probes,
            memory,
        }
    }

    async fn report(self, attack: &str, outcome: String) {
        self.stop.store(true, Ordering::SeqCst);
        let mut seen = self.probes.await.unwrap_or_default();
        self.memory.await.ok();
        let unanswered = seen.iter().filter(|p| p.is_none()).count();
        let mut answered: Vec<Duration> = seen.drain(..).flatten().collect();
        answered.sort();
        let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
        let (since, cpu) = self.started;
        println!(
            "| {attack} | {} | {:.1} ms | {:.1} ms | {unanswered} | {:.0} MiB | {:.1} s of {:.1} s | {outcome} |",
            answered.len() + unanswered,
            ms(answered.get(answered.len() / 2)),
            ms(answered.last()),
            self.peak_kib.load(Ordering::SeqCst) as f64 / 1024.0,
            cpu_secs(self.pid) - cpu,
            since.elapsed().as_secs_f64(),
        );
    }
}

async fn connect(t: &Target, small_window: bool) -> Res<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if small_window {
        socket.set_recv_buffer_size(4096)?;
    }
    Ok(socket.connect(t.addr).await?)
}

async fn upgrade(t: &Target) -> Res<TcpStream> {
    let mut s = connect(t, true).await?;
    s.write_all(b"GET /app/policy-service HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").await?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(s.read_u8().await?);
    }
    Ok(s)
}

/// A GET through "Kong", as `tenant`.
fn kong(tenant: &str, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nX-Consumer-ID: abuse\r\nX-Authenticated-Userid: abuse\r\nX-Consumer-Custom-ID: {tenant}\r\n\r\n"
    )
}

/// Four sockets flooding pings, never reading.
async fn ping_flood(t: &Target) -> String {
    let mut frame = vec![0x89, 0x80 | 125, 0, 0, 0, 0];
    frame.extend_from_slice(&[b'p'; 125]);
    let burst = Arc::new(frame.repeat(8000));
    let floods = (0..4).map(|_| {
        let burst = burst.clone();
        async move {
            let Ok(mut s) = upgrade(t).await else {
                return 0;
            };
            let mut sent = 0usize;
            while sent < 1 << 30 && s.write_all(&burst).await.is_ok() {
                sent += burst.len();
            }
            sent
        }
    });
    let sent: usize = futures::future::join_all(floods).await.into_iter().sum();
    format!(
        "4 sockets closed after {} MiB of pings in all (1008)",
        sent >> 20
    )
}

/// Sockets up to the cap, idle, and one more.
async fn idle_sockets(t: &Target, cap: usize) -> String {
    let mut held = Vec::with_capacity(cap);
    for _ in 0..cap {
        match upgrade(t).await {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    let before = rss_mib(t.pid);
    let (mut extra, _) = match connect_async(format!(
        "{}/app/policy-service",
        t.base.replace("http", "ws")
    ))
    .await
    {
        Ok(ws) => ws,
        Err(e) => return format!("{} sockets; the next failed to connect: {e}", held.len()),
    };
    let mut code = None;
    while let Some(Ok(m)) = extra.next().await {
        if let Message::Close(f) = m {
            code = f.map(|f| u16::from(f.code));
            break;
        }
    }
    extra.close(None).await.ok();
    format!(
        "{} idle sockets held ({before:.0} MiB); the next closed with {code:?}",
        held.len()
    )
}

/// Streams: one tenant past its cap, then the instance past its own.
async fn streams(t: &Target, per_tenant: usize, per_instance: usize) -> String {
    let mut held = Vec::new();
    let mut refused = Vec::new();
    'tenants: for tenant in &t.tenants {
        for _ in 0..=per_tenant {
            let Ok(mut s) = connect(t, false).await else {
                break 'tenants;
            };
            let path = format!("/v1/events/stream?channels=tenant.{tenant}");
            if s.write_all(kong(tenant, &path).as_bytes()).await.is_err() {
                break 'tenants;
            }
            let mut head = [0u8; 12];
            if s.read_exact(&mut head).await.is_err() {
                break 'tenants;
            }
            match &head[9..12] {
                b"200" => held.push(s),
                status => refused.push(String::from_utf8_lossy(status).into_owned()),
            }
            if held.len() > per_instance {
                break 'tenants;
            }
        }
    }
    refused.sort();
    refused.dedup();
    format!("{} streams held; refused with {refused:?}", held.len())
}

/// More connections than HTTP_MAX_CONNECTIONS, each sending its body a byte at a time.
async fn slow_bodies(t: &Target, n: usize) -> String {
    let tenant = &t.tenants[0];
    let head = format!(
        "POST /v1/insureds HTTP/1.1\r\nHost: x\r\nX-Consumer-ID: abuse\r\nX-Authenticated-Userid: abuse\r\nX-Consumer-Custom-ID: {tenant}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    );
    let cut = Arc::new(AtomicU64::new(0));
    let trickles = (0..n).map(|_| {
        let (head, cut) = (head.clone(), cut.clone());
        async move {
            let Ok(mut s) = connect(t, false).await else {
                return;
            };
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for _ in 0..60 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if s.write_all(b" ").await.is_err() {
                    cut.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        }
    });
    futures::future::join_all(trickles).await;
    format!(
        "{n} trickling bodies, {} cut off within 30 s",
        cut.load(Ordering::SeqCst)
    )
}

/// Clients that ask for a download and never read it.
async fn non_readers(t: &Target, n: usize) -> String {
    let mut held = Vec::new();
    for _ in 0..n {
        if let Ok(mut s) = connect(t, true).await {
            let path = format!("/v1/documents/{}/content", t.document);
            if s.write_all(kong(&t.tenants[0], &path).as_bytes())
                .await
                .is_ok()
            {
                held.push(s);
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(20)).await;
    let mut closed = 0;
    for s in &mut held {
        let mut buf = vec![0u8; 1 << 16];
        // Drain what it buffered: a closed connection ends in EOF or a reset.
        loop {
            match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed += 1;
                    break;
                }
                Ok(Ok(_)) => continue,
                Err(_) => break,
            }
        }
    }
    format!("{n} clients not reading a download; {closed} closed by the server")
}

/// Part header blocks that never end, 256 MiB each, four at once.
async fn endless_headers(t: &Target) -> String {
    let tenant = &t.tenants[0];
    let http = reqwest::Client::new();
    let uploads = (0..4).map(|_| {
        let head = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a".to_vec();
        let body = futures::stream::iter(
            std::iter::once(bytes::Bytes::from(head))
                .chain((0..256).map(|_| bytes::Bytes::from(vec![b'a'; 1 << 20])))
                .map(Ok::<_, std::io::Error>),
        );
        http.post(format!(
            "{}/v1/policies/{}/documents",
            t.base,
            uuid::Uuid::now_v7()
        ))
        .header("X-Consumer-ID", "abuse")
        .header("X-Authenticated-Userid", "abuse")
        .header("X-Consumer-Custom-ID", tenant.as_str())
        .header("Content-Type", "multipart/form-data; boundary=XyZ")
        .body(reqwest::Body::wrap_stream(body))
        .send()
    });
    let answers = futures::future::join_all(uploads).await;
    let statuses: Vec<String> = answers
        .iter()
        .map(|a| {
            a.as_ref()
                .map_or("cut".into(), |r| r.status().as_u16().to_string())
        })
        .collect();
    format!("4 × 256 MiB: answered {statuses:?}")
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, pid, document, tenants @ ..] = args.as_slice() else {
        return Err("usage: abuse URL PID DOCUMENT TENANT [TENANT…]".into());
    };
    let t = Target {
        addr: base.trim_start_matches("http://").parse()?,
        base: base.clone(),
        pid: pid.parse()?,
        document: document.clone(),
        tenants: tenants.to_vec(),
    };
    println!(
        "| attack | probes | median | slowest | unanswered | peak memory | server CPU | what the server did |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let w = Watch::start(&t);
    let outcome = ping_flood(&t).await;
    w.report("ping flood", outcome).await;
    let w = Watch::start(&t);
    let outcome = idle_sockets(&t, 10_000).await;
    w.report("idle sockets to the cap", outcome).await;
    let w = Watch::start(&t);
    let outcome = streams(&t, 200, 2_000).await;
    w.report("event streams past their caps", outcome).await;
    let w = Watch::start(&t);
    let outcome = slow_bodies(&t, 1_200).await;
    w.report("slow bodies past HTTP_MAX_CONNECTIONS", outcome)
        .await;
    let w = Watch::start(&t);
    let outcome = non_readers(&t, 300).await;
    w.report("downloads never read", outcome).await;
    let w = Watch::start(&t);
    let outcome = endless_headers(&t).await;
    w.report("endless part headers", outcome).await;
    Ok(())
}
