//! Loki shipping: log lines pushed to `/loki/api/v1/push` as snappy-compressed protobuf (Loki's
//! `logproto.PushRequest`, written by hand into a buffer kept from batch to batch: the
//! `loki-api` types copied every line once more), from a background task.
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
//!   moment loses nothing. Five failures drop the batch, counted. The waits hold up the pushing
//!   task only, never a request, nor the task that empties the queue: that one goes on making
//!   batches, up to `WAITING` of them ahead of the push; past them lines stay queued, and a
//!   full queue drops them, counted.
//! - production connections: TLS with the service's roots (`Endpoint::tls`), and the headers it
//!   is given on every push (basic or bearer authorization, `X-Scope-OrgID` for a multi-tenant
//!   Loki). A failing Loki is an error line once per episode (`episode`), naming the cause.
//!
//! The line itself is built by `lines.rs`, once for stdout and Loki alike.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::Level;

use crate::{
    Endpoint, Error, TelemetryConfig, episode::Episode, metrics::tenant_label, protobuf,
    spare::Spare,
};

const BATCH_LINES: usize = 1_000;
/// How often the queue is emptied: at 40,000 lines a second, 2,000 lines wait in it between
/// two wake-ups, a fifth of the default queue.
const PACE: Duration = Duration::from_millis(50);
/// How long lines wait for a batch to fill before it is pushed anyway.
const LINGER: Duration = Duration::from_millis(250);
/// Batches made and waiting for the push, at most, besides the one being pushed.
const WAITING: usize = 2;
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries of one batch, and the wait before the second (doubled each time, at most `MAX_WAIT`).
const TRIES: u32 = 5;
const FIRST_WAIT: Duration = Duration::from_millis(500);
const MAX_WAIT: Duration = Duration::from_secs(8);

static EPISODE: Episode = Episode::new("loki");

struct Line {
    level: Level,
    tenant: Option<Arc<str>>,
    at: SystemTime,
    /// The JSON line, with the newline stdout needs (left out here).
    text: String,
}

enum Queued {
    Line(Line),
    Flush(oneshot::Sender<()>),
}

/// Where lines enter the queue.
pub(crate) struct Sink {
    tx: mpsc::Sender<Queued>,
}

impl Sink {
    /// Queues a line for its stream; a full queue drops it, counted. The stream's labels are
    /// made once per stream and batch, by the shipper.
    pub fn send(&self, level: &Level, tenant: Option<Arc<str>>, text: String) {
        let sent = self.tx.try_send(Queued::Line(Line {
            level: *level,
            tenant,
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

/// The shipper for `loki`; pushed lines' buffers go back to `spare`.
pub(crate) fn start(
    loki: &Endpoint,
    cfg: &TelemetryConfig,
    spare: Arc<Spare<String>>,
) -> Result<(Sink, Shipper), Error> {
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
    let task = tokio::spawn(ship(rx, client, push_url, fixed, spare));
    let sink = Sink { tx: tx.clone() };
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

/// What the batching task hands the pushing task.
enum Push {
    Body {
        body: bytes::Bytes,
        lines: u64,
    },
    /// Answered once every push before it is done.
    Done(oneshot::Sender<()>),
}

/// Wakes every `PACE` to take what is queued, instead of being woken by each line (a task
/// wake-up per line cost more than building the line), and makes batches of at most
/// `BATCH_LINES`, or of what `LINGER` gathered; a task of its own pushes them. `fixed` is the
/// labels every stream has.
async fn ship(
    mut rx: mpsc::Receiver<Queued>,
    client: reqwest::Client,
    url: String,
    fixed: String,
    spare: Arc<Spare<String>>,
) {
    let (pushes, to_push) = mpsc::channel(WAITING);
    tokio::spawn(push_all(to_push, client, url));
    let mut batch = Batch {
        lines: Vec::new(),
        encoded: Vec::new(),
        compressed: Vec::new(),
        snappy: snap::raw::Encoder::new(),
        fixed,
        spare,
    };
    let mut last = Instant::now();
    loop {
        tokio::time::sleep(PACE).await;
        loop {
            match rx.try_recv() {
                Ok(Queued::Line(line)) => {
                    batch.lines.push(line);
                    if batch.lines.len() >= BATCH_LINES {
                        batch.hand_over(&pushes).await;
                        last = Instant::now();
                    }
                }
                Ok(Queued::Flush(done)) => {
                    batch.hand_over(&pushes).await;
                    pushes.send(Push::Done(done)).await.ok();
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    batch.hand_over(&pushes).await;
                    return;
                }
            }
        }
        if last.elapsed() >= LINGER {
            batch.hand_over(&pushes).await;
            last = Instant::now();
        }
    }
}

/// Pushes the batches handed over, until the batching task stops.
async fn push_all(mut pushes: mpsc::Receiver<Push>, client: reqwest::Client, url: String) {
    while let Some(push) = pushes.recv().await {
        match push {
            Push::Body { body, lines } => send(&client, &url, body, lines).await,
            Push::Done(done) => {
                done.send(()).ok();
            }
        }
    }
}

/// A stream's level and tenant (`None`: outside a request).
type Stream<'a> = (Level, Option<&'a str>);

/// The lines taken, and the buffers their push is encoded and compressed into, kept from one
/// batch to the next.
struct Batch {
    lines: Vec<Line>,
    encoded: Vec<u8>,
    compressed: Vec<u8>,
    /// Kept, with the table it allocates.
    snappy: snap::raw::Encoder,
    fixed: String,
    /// Where the lines' buffers go once encoded.
    spare: Arc<Spare<String>>,
}

impl Batch {
    /// The lines as a `PushRequest` (loki's `logproto`), one stream per level and tenant.
    fn encode(&mut self) {
        // A handful of streams a batch: found by comparing, cheaper than hashing every line.
        let mut streams: Vec<(Stream<'_>, Vec<&Line>)> = Vec::new();
        for line in &self.lines {
            let key = (line.level, line.tenant.as_deref());
            match streams.iter_mut().find(|(k, _)| *k == key) {
                Some((_, lines)) => lines.push(line),
                None => streams.push((key, vec![line])),
            }
        }
        let out = &mut self.encoded;
        out.clear();
        for ((level, tenant), lines) in streams {
            let tenant = tenant.map_or_else(|| "none".into(), tenant_label);
            protobuf::nested(out, 1, |stream| {
                let labels = format!(
                    "{{{},tenant=\"{}\",level=\"{}\"}}",
                    self.fixed,
                    escape(&tenant),
                    level.as_str().to_ascii_lowercase()
                );
                protobuf::bytes(stream, 1, labels.as_bytes());
                for line in lines {
                    let since = line.at.duration_since(UNIX_EPOCH).unwrap_or_default();
                    let text = line.text.strip_suffix('\n').unwrap_or(&line.text);
                    protobuf::nested(stream, 2, |entry| {
                        protobuf::nested(entry, 1, |at| {
                            protobuf::uint(at, 1, since.as_secs());
                            protobuf::uint(at, 2, u64::from(since.subsec_nanos()));
                        });
                        protobuf::bytes(entry, 2, text.as_bytes());
                    });
                }
            });
        }
    }

    /// Encodes, compresses and empties the batch, and hands it to the pushing task, waiting
    /// while `WAITING` batches are ahead of it.
    async fn hand_over(&mut self, pushes: &mpsc::Sender<Push>) {
        if self.lines.is_empty() {
            return;
        }
        let lines = self.lines.len() as u64;
        self.encode();
        for line in self.lines.drain(..) {
            self.spare.give(line.text);
        }
        self.compressed
            .resize(snap::raw::max_compress_len(self.encoded.len()), 0);
        let body = match self.snappy.compress(&self.encoded, &mut self.compressed) {
            Ok(n) => bytes::Bytes::copy_from_slice(&self.compressed[..n]),
            Err(_) => return crate::metrics::dropped("logs", lines),
        };
        if pushes.send(Push::Body { body, lines }).await.is_err() {
            crate::metrics::dropped("logs", lines);
        }
    }
}

/// Posts `body` (holding `lines` lines), tried again as the module says.
async fn send(client: &reqwest::Client, url: &str, body: bytes::Bytes, lines: u64) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use prost_013::Message;

    /// The hand-written push read back with loki-api's `logproto` types.
    #[test]
    fn a_batch_reads_back_as_loki_push_request() {
        let line = |level, tenant: Option<&str>, text: &str| Line {
            level,
            tenant: tenant.map(Arc::from),
            at: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
            text: format!("{text}\n"),
        };
        let long = "y".repeat(300);
        let mut batch = Batch {
            lines: vec![
                line(Level::INFO, Some("acme"), "{\"a\":1}"),
                line(Level::WARN, None, "{\"b\":2}"),
                line(Level::INFO, Some("acme"), &long),
            ],
            encoded: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
            fixed: "app=\"svc\",env=\"test\",namespace=\"none\"".into(),
            spare: Arc::new(Spare::new(1)),
        };
        batch.encode();
        let request =
            loki_api::logproto::PushRequest::decode(batch.encoded.as_slice()).expect("valid");
        let mut streams: Vec<(String, Vec<String>)> = request
            .streams
            .iter()
            .map(|s| {
                (
                    s.labels.clone(),
                    s.entries.iter().map(|e| e.line.clone()).collect(),
                )
            })
            .collect();
        streams.sort();
        let acme = format!(
            "{{app=\"svc\",env=\"test\",namespace=\"none\",tenant=\"{}\",level=\"info\"}}",
            tenant_label("acme")
        );
        assert_eq!(
            streams,
            [
                (acme, vec!["{\"a\":1}".to_owned(), long]),
                (
                    "{app=\"svc\",env=\"test\",namespace=\"none\",tenant=\"none\",level=\"warn\"}"
                        .to_owned(),
                    vec!["{\"b\":2}".to_owned()]
                ),
            ]
        );
        let at = request.streams[0].entries[0].timestamp.expect("timestamp");
        assert_eq!((at.seconds, at.nanos), (1_700_000_000, 123_456_789));
    }
}
