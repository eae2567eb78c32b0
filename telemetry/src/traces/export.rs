//! The span queue between the request threads and the collector, and the two threads behind
//! it. Spans arrive already encoded (`layer.rs`, `sdk.rs`); a batch is their bytes behind one
//! resource and scope header (`otlp::request`), posted as OTLP/HTTP protobuf, gzipped when
//! configured.
//!
//! `Queue::span` puts a finished span into a bounded channel and never waits: a full channel
//! drops it, counted in `telemetry_dropped_total{signal="spans"}`. The `span-export` thread
//! empties the channel every 5 ms and encodes a batch when it holds `max_batch` spans or when
//! `delay` has passed since the last one; the `span-post` thread posts the batches, and counts
//! a batch the collector refuses or never receives (an error line once per episode, naming the
//! cause). Two threads, because a post waits on the collector: with one, the channel stopped
//! draining for as long as the collector took to answer, and at 60,000 spans a second a
//! collector slow for 35 ms filled the default queue. Now the channel keeps draining into up to
//! `WAITING` encoded batches while one is posted; only past them do spans stay queued. Flush and
//! shutdown are messages in the same channel, so they answer for every span queued before them.
//! Its size, delay and batch follow the standard `OTEL_BSP_MAX_QUEUE_SIZE` (2,048),
//! `OTEL_BSP_SCHEDULE_DELAY` (5,000 ms) and `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (512).

use std::{
    io::Write as _,
    sync::{
        Arc,
        mpsc::{self, Receiver, SyncSender, TryRecvError},
    },
    time::{Duration, Instant},
};

use super::otlp;
use crate::{Error, Otlp, episode::Episode, spare::Spare};

/// A finished span's message, and its instrumentation scope's when it is not ours (a span
/// made through the OpenTelemetry API names its own).
pub(crate) struct Encoded {
    pub scope: Option<Arc<[u8]>>,
    pub span: Vec<u8>,
}

enum Queued {
    Span(Encoded),
    Flush(mpsc::Sender<()>),
    Shutdown(mpsc::Sender<()>),
}

pub(crate) struct Settings {
    pub queue: usize,
    pub delay: Duration,
    pub max_batch: usize,
}

impl Settings {
    pub fn from_env() -> Settings {
        let var = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        let queue = var("OTEL_BSP_MAX_QUEUE_SIZE", 2_048) as usize;
        Settings {
            queue,
            delay: Duration::from_millis(var("OTEL_BSP_SCHEDULE_DELAY", 5_000)),
            max_batch: (var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512) as usize).min(queue),
        }
    }
}

/// How often the export thread empties the queue. At 70,000 spans a second (the L1-hit bench,
/// two spans a request) 350 spans arrive between two wake-ups, leaving the default queue room
/// for 25 ms more: a thread that shares a busy core is not always woken on time, and at 20 ms
/// the bench's queue overflowed.
const PACE: Duration = Duration::from_millis(5);

/// A collector that refuses or never answers is an error line once per episode.
static EPISODE: Episode = Episode::new("otlp");

/// Where finished spans enter.
#[derive(Clone, Debug)]
pub(crate) struct Queue {
    tx: SyncSender<Queued>,
    /// Span buffers the export thread has emptied, for the next spans (`spare.rs`).
    spare: Arc<Spare<Vec<u8>>>,
}

impl Queue {
    /// An empty buffer for a span's message.
    pub fn buffer(&self) -> Vec<u8> {
        self.spare.take()
    }

    /// Queues a span of ours; never waits.
    pub fn span(&self, span: Vec<u8>) {
        self.encoded(Encoded { scope: None, span });
    }

    pub fn encoded(&self, encoded: Encoded) {
        if self.tx.try_send(Queued::Span(encoded)).is_err() {
            crate::metrics::dropped("spans", 1);
        }
    }

    /// Exports what is queued, waiting at most `within`. Blocks: call it off async threads.
    pub fn flush(&self, within: Duration) -> bool {
        self.ask(Queued::Flush, within)
    }

    /// Exports what is queued and stops the thread, waiting at most `within`.
    pub fn shutdown(&self, within: Duration) -> bool {
        self.ask(Queued::Shutdown, within)
    }

    fn ask(&self, message: impl FnOnce(mpsc::Sender<()>) -> Queued, within: Duration) -> bool {
        let (done, answered) = mpsc::channel();
        self.tx.send(message(done)).is_ok() && answered.recv_timeout(within).is_ok()
    }
}

#[cfg(test)]
impl Queue {
    /// A queue of `capacity` with no thread behind it, and what takes its spans out.
    pub fn collecting(capacity: usize) -> (Queue, impl Fn() -> Vec<Encoded>) {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let spare = Arc::new(Spare::new(capacity));
        let take = move || {
            rx.try_iter()
                .filter_map(|q| match q {
                    Queued::Span(s) => Some(s),
                    _ => None,
                })
                .collect()
        };
        (Queue { tx, spare }, take)
    }
}

/// Encoded batches waiting for the poster, at most, besides the one it is posting.
const WAITING: usize = 2;

/// What the export thread hands the post thread.
enum Post {
    Batch {
        body: Vec<u8>,
        spans: u64,
    },
    /// Answered once every batch before it is posted.
    Done(mpsc::Sender<()>),
}

/// Makes batches: the encoded `Resource` and our `InstrumentationScope`, the same for every
/// batch, in front of the spans.
struct Batcher {
    resource: Vec<u8>,
    scope: Vec<u8>,
    posts: SyncSender<Post>,
    spare: Arc<Spare<Vec<u8>>>,
}

/// Posts batches to the collector.
struct Poster {
    client: reqwest_otlp::blocking::Client,
    url: String,
    gzip: bool,
}

/// Starts the export and post threads for `otlp`; `resource` is the service's, encoded.
pub(crate) fn start(otlp: &Otlp, resource: Vec<u8>, settings: Settings) -> Result<Queue, Error> {
    let (tls, headers, timeout) = (
        (*otlp.endpoint.tls).clone(),
        otlp.endpoint.headers.clone(),
        otlp.timeout,
    );
    // reqwest's blocking client runs a runtime of its own, which must not be built on one of
    // the service's runtime threads.
    let client = std::thread::spawn(move || {
        reqwest_otlp::blocking::Client::builder()
            .timeout(timeout)
            .default_headers(headers)
            .tls_backend_preconfigured(tls)
            .build()
    })
    .join()
    .map_err(|_| Error::Exporter("the HTTP client's thread failed".into()))?
    .map_err(|e| Error::Exporter(e.to_string()))?;
    let poster = Poster {
        client,
        url: otlp.endpoint.url.clone(),
        gzip: otlp.gzip,
    };
    let (posts, to_post) = mpsc::sync_channel(WAITING);
    let mut scope = Vec::new();
    otlp::bytes(&mut scope, 1, b"telemetry");
    let spare = Arc::new(Spare::new(settings.queue));
    let batcher = Batcher {
        resource,
        scope,
        posts,
        spare: spare.clone(),
    };
    let (tx, rx) = mpsc::sync_channel(settings.queue.max(1));
    std::thread::Builder::new()
        .name("span-post".into())
        .spawn(move || poster.post_all(&to_post))
        .map_err(|e| Error::Exporter(e.to_string()))?;
    std::thread::Builder::new()
        .name("span-export".into())
        .spawn(move || export_loop(&rx, &batcher, &settings))
        .map_err(|e| Error::Exporter(e.to_string()))?;
    Ok(Queue { tx, spare })
}

/// Wakes every `PACE` and takes what is queued, rather than being woken by each span (a thread
/// wake-up per span cost more than the span).
fn export_loop(rx: &Receiver<Queued>, batcher: &Batcher, settings: &Settings) {
    let mut batch: Vec<Encoded> = Vec::with_capacity(settings.max_batch);
    let mut last = Instant::now();
    loop {
        std::thread::sleep(PACE);
        loop {
            match rx.try_recv() {
                Ok(Queued::Span(span)) => {
                    batch.push(span);
                    if batch.len() >= settings.max_batch {
                        batcher.hand_over(&mut batch);
                        last = Instant::now();
                    }
                }
                Ok(Queued::Flush(done)) => {
                    batcher.hand_over(&mut batch);
                    batcher.posts.send(Post::Done(done)).ok();
                }
                Ok(Queued::Shutdown(done)) => {
                    batcher.hand_over(&mut batch);
                    batcher.posts.send(Post::Done(done)).ok();
                    return;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    batcher.hand_over(&mut batch);
                    return;
                }
            }
        }
        if last.elapsed() >= settings.delay {
            batcher.hand_over(&mut batch);
            last = Instant::now();
        }
    }
}

impl Batcher {
    /// Encodes and empties `batch`, and hands it to the poster, waiting while `WAITING`
    /// batches are ahead of it (spans queue meanwhile).
    fn hand_over(&self, batch: &mut Vec<Encoded>) {
        if batch.is_empty() {
            return;
        }
        let spans = batch.len() as u64;
        let mut body = Vec::new();
        self.encode(batch, &mut body);
        for encoded in batch.drain(..) {
            self.spare.give(encoded.span);
        }
        if self.posts.send(Post::Batch { body, spans }).is_err() {
            crate::metrics::dropped("spans", spans);
        }
    }

    /// The batch as one `ExportTraceServiceRequest`: our spans under our scope, others' under
    /// theirs (in the order their scopes first came).
    fn encode(&self, batch: &[Encoded], body: &mut Vec<u8>) {
        let mut scopes: Vec<(&[u8], Vec<&[u8]>)> = vec![(&self.scope, Vec::new())];
        for encoded in batch {
            let scope: &[u8] = encoded.scope.as_deref().unwrap_or(&self.scope);
            match scopes.iter_mut().find(|(s, _)| *s == scope) {
                Some((_, spans)) => spans.push(&encoded.span),
                None => scopes.push((scope, vec![&encoded.span])),
            }
        }
        scopes.retain(|(_, spans)| !spans.is_empty());
        let scopes: Vec<(&[u8], &[&[u8]])> = scopes
            .iter()
            .map(|(s, spans)| (*s, spans.as_slice()))
            .collect();
        otlp::request(body, &self.resource, scopes.iter().copied());
    }
}

impl Poster {
    /// Posts what the export thread hands over, until it stops; a failed post is counted, never
    /// retried (the next batch is already coming).
    fn post_all(&self, posts: &Receiver<Post>) {
        for post in posts {
            match post {
                Post::Batch { body, spans } => match self.post(body) {
                    Ok(()) => EPISODE.succeeded(),
                    Err(cause) => {
                        EPISODE.failed(&cause);
                        crate::metrics::dropped("spans", spans);
                    }
                },
                Post::Done(done) => {
                    done.send(()).ok();
                }
            }
        }
    }

    fn post(&self, body: Vec<u8>) -> Result<(), String> {
        let request = self
            .client
            .post(&self.url)
            .header("content-type", "application/x-protobuf");
        let request = if self.gzip {
            let mut zip = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                Default::default(),
            );
            zip.write_all(&body).map_err(|e| format!("gzip: {e}"))?;
            let zipped = zip.finish().map_err(|e| format!("gzip: {e}"))?;
            request.header("content-encoding", "gzip").body(zipped)
        } else {
            request.body(body)
        };
        match request.send() {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("export answered {}", r.status())),
            // The error's chain names the cause: refused, timed out, a certificate refused.
            Err(e) => Err(format!(
                "export failed: {}",
                crate::episode::causes(&e.without_url())
            )),
        }
    }
}
