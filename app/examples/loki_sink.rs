//! A Loki stand-in for the benchmarks: `POST /loki/api/v1/push` takes Loki's real push format
//! (snappy-compressed protobuf, decoded with the `loki-api` types Loki's clients use), counts
//! the lines and answers 204 as Loki does; a body that does not decode gets 400. `GET /stats`
//! tells what arrived, so a benchmark can show its logs really shipped.
//!
//! `cargo run --release --example loki_sink -- 127.0.0.1:3100`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use poem::{
    EndpointExt, Route, Server, handler,
    http::StatusCode,
    listener::TcpListener,
    post,
    web::{Data, Json},
};
use serde_json::{Value, json};

#[derive(Default)]
struct Counts {
    pushes: AtomicU64,
    lines: AtomicU64,
    refused: AtomicU64,
}

#[handler]
fn push(body: Vec<u8>, counts: Data<&Arc<Counts>>) -> StatusCode {
    let decoded = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .ok()
        .and_then(|raw| {
            <loki_api::logproto::PushRequest as prost_013::Message>::decode(raw.as_slice()).ok()
        });
    let Some(request) = decoded else {
        counts.refused.fetch_add(1, Ordering::Relaxed);
        return StatusCode::BAD_REQUEST;
    };
    let lines: usize = request.streams.iter().map(|s| s.entries.len()).sum();
    counts.pushes.fetch_add(1, Ordering::Relaxed);
    counts.lines.fetch_add(lines as u64, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

#[handler]
fn stats(counts: Data<&Arc<Counts>>) -> Json<Value> {
    Json(json!({
        "pushes": counts.pushes.load(Ordering::Relaxed),
        "lines": counts.lines.load(Ordering::Relaxed),
        "refused": counts.refused.load(Ordering::Relaxed),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3100".into());
    let app = Route::new()
        .at("/loki/api/v1/push", post(push))
        .at("/stats", poem::get(stats))
        .data(Arc::new(Counts::default()));
    Server::new(TcpListener::bind(addr)).run(app).await
}
