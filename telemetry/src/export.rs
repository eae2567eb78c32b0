//! The span queue between the request threads and the OTLP exporter: a batch span processor
//! of our own, because the SDK's drops spans at a full queue without telling anyone (it logs
//! once and keeps the count to itself), and a span given up must be counted.
//!
//! `on_end` puts a finished span into a bounded channel and never waits: a full channel drops
//! it, counted in `telemetry_dropped_total{signal="spans"}`. One thread empties the channel every
//! 20 ms, exports a batch when it holds `max_batch` spans or when `delay` has passed since the
//! last export, and counts a batch the exporter fails. Flush and shutdown are messages in the
//! same channel, so they answer for every span queued before them. Its size, delay and batch follow the
//! standard `OTEL_BSP_MAX_QUEUE_SIZE` (2,048), `OTEL_BSP_SCHEDULE_DELAY` (5,000 ms) and
//! `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (512).

use std::{
    sync::{
        Arc, Mutex,
        mpsc::{self, Receiver, SyncSender, TryRecvError},
    },
    time::{Duration, Instant},
};

use opentelemetry::Context;

use crate::episode::Episode;
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{Span, SpanData, SpanExporter, SpanProcessor},
};

// Nearly everything queued is a span: boxing it would cost an allocation per span to save
// space on the rare flush.
#[allow(clippy::large_enum_variant)]
enum Queued {
    Span(SpanData),
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

const PACE: Duration = Duration::from_millis(20);

/// A collector that refuses or never answers is an error line once per episode.
static EPISODE: Episode = Episode::new("otlp");

#[derive(Debug)]
pub(crate) struct Batching<E> {
    tx: SyncSender<Queued>,
    exporter: Arc<Mutex<E>>,
}

impl<E: SpanExporter + 'static> Batching<E> {
    pub fn start(exporter: E, settings: Settings) -> Result<Batching<E>, crate::Error> {
        let (tx, rx) = mpsc::sync_channel(settings.queue.max(1));
        let exporter = Arc::new(Mutex::new(exporter));
        let worker = exporter.clone();
        std::thread::Builder::new()
            .name("span-export".into())
            .spawn(move || export_loop(rx, &worker, &settings))
            .map_err(|e| crate::Error::Exporter(e.to_string()))?;
        Ok(Batching { tx, exporter })
    }

    /// Sends `message` and waits for the worker to answer, at most `within`.
    fn ask(
        &self,
        message: impl FnOnce(mpsc::Sender<()>) -> Queued,
        within: Duration,
    ) -> OTelSdkResult {
        let (done, answered) = mpsc::channel();
        self.tx
            .send(message(done))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        answered
            .recv_timeout(within)
            .map_err(|_| OTelSdkError::Timeout(within))
    }
}

/// Wakes every `PACE` and takes what is queued, rather than being woken by each span (a thread
/// wake-up per span cost more than the span). At 2,048 spans a queue, that keeps up with
/// 100,000 spans a second.
fn export_loop<E: SpanExporter>(rx: Receiver<Queued>, exporter: &Mutex<E>, settings: &Settings) {
    let mut batch: Vec<SpanData> = Vec::with_capacity(settings.max_batch);
    let mut last = Instant::now();
    loop {
        std::thread::sleep(PACE);
        loop {
            match rx.try_recv() {
                Ok(Queued::Span(span)) => {
                    batch.push(span);
                    if batch.len() >= settings.max_batch {
                        export(exporter, &mut batch);
                        last = Instant::now();
                    }
                }
                Ok(Queued::Flush(done)) => {
                    export(exporter, &mut batch);
                    done.send(()).ok();
                }
                Ok(Queued::Shutdown(done)) => {
                    export(exporter, &mut batch);
                    if let Ok(e) = exporter.lock() {
                        e.shutdown().ok();
                    }
                    done.send(()).ok();
                    return;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    export(exporter, &mut batch);
                    return;
                }
            }
        }
        if last.elapsed() >= settings.delay {
            export(exporter, &mut batch);
            last = Instant::now();
        }
    }
}

/// Exports and empties `batch`; a failed export is counted, never retried (the next batch is
/// already coming).
fn export<E: SpanExporter>(exporter: &Mutex<E>, batch: &mut Vec<SpanData>) {
    if batch.is_empty() {
        return;
    }
    let spans = std::mem::take(batch);
    let count = spans.len() as u64;
    let delivered = match exporter.lock() {
        Ok(e) => futures_executor::block_on(e.export(spans)).map_err(|e| e.to_string()),
        Err(_) => Err("the exporter's lock is poisoned".to_owned()),
    };
    match delivered {
        Ok(()) => EPISODE.succeeded(),
        Err(cause) => {
            EPISODE.failed(&cause);
            crate::metrics::dropped("spans", count);
        }
    }
}

impl<E: SpanExporter + 'static> SpanProcessor for Batching<E> {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if self.tx.try_send(Queued::Span(span)).is_err() {
            crate::metrics::dropped("spans", 1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.ask(Queued::Flush, Duration::from_secs(30))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.ask(Queued::Shutdown, timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Ok(mut e) = self.exporter.lock() {
            e.set_resource(resource);
        }
    }
}
