//! Fan-out over instances: N Pusher sockets split over the given instances, each on the tenant's
//! private channel (signed by `POST /broadcasting/auth`), then M policies bound through the first
//! instance. Prints how many of the N × M broadcasts arrived and the latency from sending the
//! bind to each socket's receipt (p50, p99, max). `loadtests/bench-fanout.sh` runs it.
//!
//!   bench_fanout TENANT SOCKETS BINDS URL [URL…]

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio_tungstenite::{connect_async, tungstenite::Message};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// When each policy's bind was sent, and when each socket heard of it.
#[derive(Default)]
struct Clock {
    sent: HashMap<String, Instant>,
    heard: Vec<(String, Instant)>,
}

fn kong(tenant: &str, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request
        .header("X-Consumer-ID", format!("bench-{tenant}"))
        .header("X-Authenticated-Userid", "bench")
        .header("X-Consumer-Custom-ID", tenant)
}

async fn text(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Res<Value> {
    loop {
        match ws.next().await.ok_or("socket closed")?? {
            Message::Text(t) => return Ok(serde_json::from_str(t.as_str())?),
            _ => continue,
        }
    }
}

/// One socket: joins, waits for the start, then records every PolicyBound until `until`.
async fn socket(
    base: String,
    tenant: String,
    http: reqwest::Client,
    ready: Arc<Barrier>,
    clock: Arc<Mutex<Clock>>,
    until: Arc<Mutex<Option<Instant>>>,
) -> Res<()> {
    let url = format!("{}/app/policy-service", base.replace("http", "ws"));
    let (ws, _) = connect_async(url).await?;
    let (mut tx, mut rx) = ws.split();
    let hello = text(&mut rx).await?;
    let data: Value = serde_json::from_str(hello["data"].as_str().ok_or("no data")?)?;
    let socket_id = data["socket_id"].as_str().ok_or("no socket id")?.to_owned();
    let channel = format!("private-tenant.{tenant}");
    let form = format!("socket_id={socket_id}&channel_name={channel}");
    let auth: Value = kong(&tenant, http.post(format!("{base}/broadcasting/auth")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await?
        .json()
        .await?;
    let subscribe =
        json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth["auth"]}});
    tx.send(Message::Text(subscribe.to_string().into())).await?;
    let joined = text(&mut rx).await?;
    if joined["event"] != "pusher_internal:subscription_succeeded" {
        return Err(format!("not joined: {joined}").into());
    }
    ready.wait().await;
    loop {
        let deadline = until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let next = tokio::time::timeout_at(deadline.into(), text(&mut rx)).await;
        let Ok(message) = next else { return Ok(()) };
        let message = message?;
        if message["event"] == "PolicyBound" {
            let payload: Value = serde_json::from_str(message["data"].as_str().unwrap_or("{}"))?;
            let id = payload["policy_id"].as_str().unwrap_or_default().to_owned();
            clock
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .heard
                .push((id, Instant::now()));
        }
    }
}

async fn bind(
    http: &reqwest::Client,
    base: &str,
    tenant: &str,
    n: usize,
) -> Res<(String, Instant)> {
    let post =
        |path: &str, body: Value| kong(tenant, http.post(format!("{base}{path}"))).json(&body);
    let insured: Value = post("/v1/insureds", json!({"full_name": "Fan Out", "email": format!("fan-{n}-{}@example.org", uuid::Uuid::now_v7().simple())}))
        .send().await?.json().await?;
    let today = chrono::Utc::now().date_naive();
    let quote: Value = post("/v1/quotes", json!({
        "insured_id": insured["id"], "product": "auto", "currency": "EUR",
        "effective_date": today.to_string(),
        "expiry_date": (today + chrono::Days::new(364)).to_string(),
        "coverages": [{"code": "liability", "limit_minor": 100_000_000, "deductible_minor": 50_000, "premium_minor": 45_000}]
    })).send().await?.json().await?;
    let sent = Instant::now();
    let policy: Value = post(
        &format!(
            "/v1/quotes/{}/bind",
            quote["id"].as_str().unwrap_or_default()
        ),
        json!({}),
    )
    .send()
    .await?
    .json()
    .await?;
    Ok((policy["id"].as_str().ok_or("bind failed")?.to_owned(), sent))
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tenant, sockets, binds, urls @ ..] = args.as_slice() else {
        return Err("usage: bench_fanout TENANT SOCKETS BINDS URL [URL…]".into());
    };
    let (sockets, binds): (usize, usize) = (sockets.parse()?, binds.parse()?);
    let http = reqwest::Client::new();
    let ready = Arc::new(Barrier::new(sockets + 1));
    let clock = Arc::new(Mutex::new(Clock::default()));
    let until = Arc::new(Mutex::new(None));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..sockets {
        tasks.spawn(socket(
            urls[i % urls.len()].clone(),
            tenant.clone(),
            http.clone(),
            ready.clone(),
            clock.clone(),
            until.clone(),
        ));
    }
    ready.wait().await;
    println!("{sockets} sockets joined over {} instances", urls.len());
    for n in 0..binds {
        let (id, sent) = bind(&http, &urls[0], tenant, n).await?;
        clock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sent
            .insert(id, sent);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    *until.lock().unwrap_or_else(PoisonError::into_inner) =
        Some(Instant::now() + Duration::from_secs(5));
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let clock = clock.lock().unwrap_or_else(PoisonError::into_inner);
    let mut latencies: Vec<f64> = clock
        .heard
        .iter()
        .filter_map(|(id, at)| Some(at.duration_since(*clock.sent.get(id)?).as_secs_f64() * 1000.0))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let wanted = sockets * binds;
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "received {} of {wanted} broadcasts ({} sockets × {binds} binds)",
        latencies.len(),
        sockets
    );
    if latencies.is_empty() {
        return Err("nothing received".into());
    }
    println!(
        "bind sent → socket received: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    if latencies.len() != wanted {
        return Err("broadcasts were lost".into());
    }
    Ok(())
}
