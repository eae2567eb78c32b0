//! Loki shipping: log lines pushed to `/loki/api/v1/push` as snappy-compressed protobuf (the
//! `loki-api` types), from a background task.
//!
//! Why not tracing-loki: its streams are fixed when the layer is built (labels plus level), and
//! it drops lines silently when its queue is full. The seed labels every line with its `tenant`,
//! and a dropped line must be counted. So this layer keeps tracing-loki's wire format and adds:
//! - streams keyed by `{app, env, namespace, tenant, level}`; `tenant` comes from the request
//!   span's `tenant.id` (`none` outside a request), labelled as the metrics label it: the same
//!   tenants named (the oldest first), the rest `other`;
//! - `trace_id` and `span_id` in the line (fields, not labels: labels stay low-cardinality);
//! - a bounded queue: `send` never waits; a full queue drops the line and counts it in
//!   `telemetry_dropped_total{signal="logs"}`, and so does a batch Loki refuses or never gets;
//! - a push that Loki answers 429 or 5xx, or that gets no answer, is tried again after 0.5, 1,
//!   2 and 4 s (or the `Retry-After` Loki gives, at most 8 s): a Loki that sheds load for a
//!   moment loses nothing. Five failures drop the batch, counted. The waits hold up the shipper
//!   only, never a request; lines queue meanwhile, and a full queue drops them, counted.
//! - production connections: TLS with the service's roots (`Endpoint::tls`), and the headers it
//!   is given on every push (basic or bearer authorization, `X-Scope-OrgID` for a multi-tenant
//!   Loki). A failing Loki is an error line once per episode (`episode`), naming the cause.
//!
//! The line itself is built by `lines.rs`, once for stdout and Loki alike.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use loki_api::logproto::{EntryAdapter, PushRequest, StreamAdapter};
use prost_013::Message;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::Level;

use crate::{Endpoint, Error, TelemetryConfig, episode::Episode, metrics::tenant_label};

const BATCH_LINES: usize = 1_000;
const PACE: Duration = Duration::from_millis(250);
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries of one batch, and the wait before the second (doubled each time, at most `MAX_WAIT`).
const TRIES: u32 = 5;
const FIRST_WAIT: Duration = Duration::from_millis(500);
const MAX_WAIT: Duration = Duration::from_secs(8);

static EPISODE: Episode = Episode::new("loki");

struct Line {
    labels: String,
    at: SystemTime,
    text: String,
}

enum Queued {
    Line(Line),
    Flush(oneshot::Sender<()>),
}

/// Where lines enter the queue.
pub(crate) struct Sink {
    tx: mpsc::Sender<Queued>,
    fixed: Arc<str>,
}

impl Sink {
    /// Queues a line for its stream; a full queue drops it, counted.
    pub fn send(&self, level: &Level, tenant: Option<&str>, text: String) {
        let tenant = tenant.map_or_else(|| "none".into(), tenant_label);
        let level = level.as_str().to_ascii_lowercase();
        let labels = format!(
            "{{{},tenant=\"{}\",level=\"{level}\"}}",
            self.fixed,
            escape(&tenant)
        );
        let sent = self.tx.try_send(Queued::Line(Line {
            labels,
            at: SystemTime::now(),
            text,
        }));
        if sent.is_err() {
            crate::metrics::dropped("logs", 1);
        }
    }
}

pub(crate) struct Shipper {
    tx: mpsc::Sender<Queued>,
    task: JoinHandle<()>,
}

pub(crate) fn start(loki: &Endpoint, cfg: &TelemetryConfig) -> Result<(Sink, Shipper), Error> {
    let client = reqwest::Client::builder()
        .timeout(PUSH_TIMEOUT)
        .default_headers(loki.headers.clone())
        .use_preconfigured_tls((*loki.tls).clone())
        .build()
        .map_err(|e| Error::Loki(e.to_string()))?;
    let push_url = format!("{}/loki/api/v1/push", loki.url.trim_end_matches('/'));
    let (tx, rx) = mpsc::channel(cfg.log_queue.max(1));
    let fixed = format!(
        "app=\"{}\",env=\"{}\",namespace=\"{}\"",
        escape(&cfg.service_name),
        escape(&cfg.environment),
        escape(cfg.namespace.as_deref().unwrap_or("none"))
    );
    let task = tokio::spawn(ship(rx, client, push_url));
    let sink = Sink {
        tx: tx.clone(),
        fixed: fixed.into(),
    };
    Ok((sink, Shipper { tx, task }))
}

impl Shipper {
    /// Pushes what is queued, waiting at most `within`.
    pub async fn shutdown(self, within: Duration) {
        let (done, flushed) = oneshot::channel();
        if self.tx.send(Queued::Flush(done)).await.is_ok() {
            tokio::time::timeout(within, flushed).await.ok();
        }
        self.task.abort();
    }
}

/// Wakes every `PACE` to take what is queued, instead of being woken by each line (a task
/// wake-up per line cost more than building the line), and pushes in batches of at most
/// `BATCH_LINES`.
async fn ship(mut rx: mpsc::Receiver<Queued>, client: reqwest::Client, url: String) {
    let mut batch: Vec<Line> = Vec::new();
    loop {
        tokio::time::sleep(PACE).await;
        loop {
            match rx.try_recv() {
                Ok(Queued::Line(line)) => {
                    batch.push(line);
                    if batch.len() >= BATCH_LINES {
                        push(&client, &url, std::mem::take(&mut batch)).await;
                    }
                }
                Ok(Queued::Flush(done)) => {
                    push(&client, &url, std::mem::take(&mut batch)).await;
                    done.send(()).ok();
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    push(&client, &url, std::mem::take(&mut batch)).await;
                    return;
                }
            }
        }
        push(&client, &url, std::mem::take(&mut batch)).await;
    }
}

async fn push(client: &reqwest::Client, url: &str, batch: Vec<Line>) {
    if batch.is_empty() {
        return;
    }
    let lines = batch.len() as u64;
    let mut streams: BTreeMap<String, Vec<EntryAdapter>> = BTreeMap::new();
    for line in batch {
        let since = line.at.duration_since(UNIX_EPOCH).unwrap_or_default();
        streams.entry(line.labels).or_default().push(EntryAdapter {
            timestamp: Some(prost_types_013::Timestamp {
                seconds: since.as_secs() as i64,
                nanos: since.subsec_nanos() as i32,
            }),
            line: line.text,
        });
    }
    let request = PushRequest {
        streams: streams
            .into_iter()
            .map(|(labels, entries)| StreamAdapter {
                labels,
                entries,
                hash: 0,
            })
            .collect(),
    };
    let body = match snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()) {
        Ok(body) => body,
        Err(_) => return crate::metrics::dropped("logs", lines),
    };
    let mut wait = FIRST_WAIT;
    for tried in 1..=TRIES {
        let sent = client
            .post(url)
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "snappy")
            .body(body.clone())
            .send()
            .await;
        let (again, cause) = match sent {
            Ok(r) if r.status().is_success() => return EPISODE.succeeded(),
            Ok(r) => {
                let status = r.status();
                let asked = retry_after(&r);
                let again = status.as_u16() == 429 || status.is_server_error();
                (
                    again.then(|| asked.unwrap_or(wait)),
                    format!("push answered {status}"),
                )
            }
            // The error's chain names the cause: refused, timed out, a certificate refused.
            Err(e) => (
                Some(wait),
                format!("push failed: {}", crate::episode::causes(&e.without_url())),
            ),
        };
        EPISODE.failed(&cause);
        match again {
            Some(pause) if tried < TRIES => tokio::time::sleep(pause.min(MAX_WAIT)).await,
            _ => break,
        }
        wait = (wait * 2).min(MAX_WAIT);
    }
    crate::metrics::dropped("logs", lines);
}

/// The wait a `Retry-After: <seconds>` answer asks for.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    value
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}
