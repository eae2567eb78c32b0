//! What an L2 hit costs over Redis itself: the median latency of a cache read served by L2
//! (the read script, the stamp check, the JSON decode) divided by the median latency of a plain
//! `GET` of a value of the same size, through the same connection, one call at a time,
//! alternating in rounds (`loadtests/bench-cache.sh` runs it; goal <= 1.3).
//!
//!   cargo run --release --example bench_l2 -- redis://127.0.0.1:6379 [calls per round]

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use policy_service::{
    platform::cache::{
        Cache,
        keys::{Key, Tag},
    },
    platform::redis::Redis,
};

/// A record about the size of a policy's JSON.
struct Record;

const NUMS: Tag = Tag::new("tag:nums");

impl Key for Record {
    type Value = String;
    const TAGS: &'static [Tag] = &[NUMS];
    const TTL: Duration = Duration::from_secs(600);

    fn name(&self) -> String {
        "bench:record".into()
    }

    fn weight(value: &String) -> u32 {
        u32::try_from(value.len()).unwrap_or(u32::MAX)
    }

    fn encode(value: &String) -> serde_json::Value {
        value.clone().into()
    }

    fn decode(stored: serde_json::Value) -> Option<String> {
        stored.as_str().map(str::to_owned)
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let calls: usize = args.next().map_or(Ok(5_000), |n| n.parse())?;
    let kv: Arc<Redis> = Redis::open(&url, false, std::time::Duration::from_millis(250), None)?;
    if !kv.wait_up(Duration::from_secs(5)).await {
        return Err(format!("no Redis at {url}").into());
    }
    let prefix = format!("bench:{}:", uuid::Uuid::now_v7().simple());
    // L2 alone: every read goes to Redis.
    let cache = Cache::new(0, Some((kv.clone(), prefix.clone()))).tenant("bench");
    let record = "x".repeat(700);
    let raw_key = format!("{prefix}raw");
    let stored = serde_json::to_string(&record)?;
    kv.call("bench_set", |mut c| {
        let mut set = redis::cmd("SET");
        set.arg(&raw_key).arg(&stored).arg("EX").arg(600);
        async move { set.query_async::<()>(&mut c).await }
    })
    .await?;
    let load = || std::future::ready(Ok(Some(record.clone())));
    cache.get_or_load(&Record, load).await?;

    let (mut hits, mut raws) = (Vec::new(), Vec::new());
    for round in 1..=5 {
        for _ in 0..calls {
            let started = Instant::now();
            let got = cache
                .get_or_load(&Record, || async { Err(unexpected()) })
                .await?;
            hits.push(started.elapsed());
            debug_assert_eq!(got.as_deref(), Some(record.as_str()));
        }
        for _ in 0..calls {
            let started = Instant::now();
            let got: String = kv
                .call("bench_get", |mut c| {
                    let mut get = redis::cmd("GET");
                    get.arg(&raw_key);
                    async move { get.query_async(&mut c).await }
                })
                .await?;
            raws.push(started.elapsed());
            let _: String = serde_json::from_str(&got)?;
        }
        eprintln!("round {round}/5 done");
    }
    let (hit, raw) = (median(hits), median(raws));
    println!(
        "L2 hit p50 {:.1} µs, raw GET p50 {:.1} µs: ratio {:.2} (goal <= 1.3)",
        hit.as_secs_f64() * 1e6,
        raw.as_secs_f64() * 1e6,
        hit.as_secs_f64() / raw.as_secs_f64()
    );
    Ok(())
}

/// The record was filled before the runs: a load here means it was not an L2 hit.
fn unexpected() -> policy_service::platform::error::Error {
    policy_service::platform::error::Error::Internal("an L2 miss during the benchmark".into())
}
