//! The HTTP server: poem's endpoint on hyper, with the limits poem's own `Server` lacks.
//!
//! poem 3.1's `Server` has no header-read timeout (hyper's needs a timer poem never sets), its
//! idle timeout does not close a connection stuck in half a request line, and it has no
//! connection limit: 200 sockets that sent half a request line stayed open indefinitely. This
//! accept loop serves the same endpoint (HTTP/1.1 and h2c, upgrades included) and adds:
//!
//! - **a connection limit** (`HTTP_MAX_CONNECTIONS`): a semaphore permit per connection, taken
//!   before `accept`, so beyond it new connections wait in the kernel's backlog;
//! - **a header-read timeout** (`HTTP_HEADER_READ_TIMEOUT_SECS`): once a request's first bytes
//!   arrive (or a connection opens), its head must be complete within it;
//! - **an idle keep-alive timeout** (`HTTP_KEEP_ALIVE_SECS`): a connection with no request in
//!   flight closes after it. Keep it above the mesh's upstream idle timeout, so the sidecar
//!   never sends a request on a connection this side is closing.
//!
//! Both timeouts are kept by `watch`, per connection, from what the socket reads and what the
//! service is doing, so a slow handler or a long body is never cut off as "idle". A closed
//! connection is counted in `http_server_connections_closed_total{reason}`.
//!
//! - **a slow-client rule** (`HTTP_MIN_DATA_RATE`, `budget.rs`): a client the service waits on
//!   mid-request (a body sent by the drop, a response it does not read) must keep up a rate, or
//!   it is closed, so it cannot hold a slot for as long as it likes;
//! - **a probe lane**: past the limit, up to `PROBE_LANE` more connections are taken in, which
//!   answer the health probes (and `/metrics`) and give anything else 503 with `Retry-After`.
//!   Liveness must answer however busy the pod is: a kubelet that gets no answer restarts a
//!   pod that was only full, and the restart moves its load onto the others.
//!
//! Connections that no longer take requests give their slot back: WebSockets (once upgraded) and
//! HTTP/1.1 event streams (they are answered `Connection: close`); `broadcast` caps both.
//!
//! Shutdown works as poem's did: on the signal, stop accepting, ask every connection to finish its
//! in-flight requests and close, and wait for them at most the grace period.

mod bodies;
mod budget;
pub mod health;
pub mod host;
pub mod settings;
mod watch;

use std::{convert::Infallible, future::Future, io, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, Version, header};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use poem::{
    Endpoint, IntoEndpoint,
    listener::{Acceptor, TcpAcceptor},
};
use tokio::sync::{Semaphore, mpsc, watch as signal};

use bodies::{Guarded, Metered};
use watch::{Conn, Lane, Watched};

/// Connections taken in past `HTTP_MAX_CONNECTIONS` to answer probes. Probes come a few a second
/// (the kubelet's, the mesh agent's, Prometheus) and each takes a millisecond; these are spare.
const PROBE_LANE: usize = 32;

/// What hyper buffers for one HTTP/1 connection, each way (its default is ~400 KiB): the
/// response queued for a client that does not read, and the longest request head (431
/// beyond). A client that stops reading holds this, and a chunk of its body, until the
/// slow-client rule closes it: ~200 KiB, not ~500 KiB, times HTTP_MAX_CONNECTIONS.
const HTTP1_BUFFER: usize = 64 * 1024;

/// The kernel's send buffer for each client socket (Linux doubles it). Left to autotuning, a
/// client that does not read has the kernel hold up to `tcp_wmem`'s maximum (4 MiB) of what the
/// server wrote for it, charged to the pod's memory cgroup, and on loopback (the mesh's sidecar)
/// it grows to ~1.3 MiB at once: 300 stalled downloads cost ~400 MiB and a second of CPU making
/// it. The sidecar reads as fast as it is written to, so this bounds only the ones that do not.
const SEND_BUFFER: usize = 64 * 1024;

/// At most this many "shed" lines a second: a full server sheds many connections.
static SHED_LOG: telemetry::throttle::Throttle = telemetry::throttle::Throttle::per_second(1);

/// The limits of `HTTP_*` settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read: Duration,
    pub keep_alive: Duration,
    pub max_connections: usize,
    /// `HTTP_MIN_DATA_RATE`, bytes a second (0: off), and its grace period.
    pub min_rate: f64,
    pub grace: Duration,
}

/// What the probe lane answers: these paths, and for anything else `overloaded` (a 503).
pub struct Probes {
    pub paths: Vec<&'static str>,
    pub overloaded: fn() -> poem::Response,
}

/// Serves `endpoint` on `acceptor` until `stop` resolves, then drains for at most `grace`.
pub async fn serve<E>(
    mut acceptor: TcpAcceptor,
    endpoint: E,
    limits: Limits,
    probes: Probes,
    stop: impl Future<Output = ()>,
    grace: Duration,
) where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    describe();
    let endpoint = Arc::new(endpoint.into_endpoint());
    let probes = Arc::new(probes);
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let spare = Arc::new(Semaphore::new(PROBE_LANE));
    let (draining, drain) = signal::channel(false);
    // Every connection's task holds a sender: all dropped means all connections done.
    let (alive, mut all_done) = mpsc::channel::<Infallible>(1);
    tokio::pin!(stop);
    loop {
        let (mut slot, mut lane) = tokio::select! {
            biased;
            _ = &mut stop => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => (slot, Lane::Regular),
                Err(_) => break,
            },
            slot = spare.clone().acquire_owned() => match slot {
                Ok(slot) => (slot, Lane::Probe),
                Err(_) => break,
            },
        };
        let (io, local, remote, scheme) = tokio::select! {
            _ = &mut stop => break,
            accepted = acceptor.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // A slot freed while it waited: serve it as any other.
        if lane == Lane::Probe
            && let Ok(regular) = slots.clone().try_acquire_owned()
        {
            (slot, lane) = (regular, Lane::Regular);
        }
        // With Nagle's algorithm on (poem's acceptor leaves it on), a response written in two
        // pieces (a streamed download's last chunk, held until its hash matches) waits for the
        // client's delayed ACK of the first: 40 ms on Linux, in the p99 of every download (P6).
        if let Err(e) = io.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        if let Err(e) = socket2::SockRef::from(&io).set_send_buffer_size(SEND_BUFFER) {
            tracing::debug!(error = %e, "SO_SNDBUF not set");
        }
        let (endpoint, probes, drain, alive) = (
            endpoint.clone(),
            probes.clone(),
            drain.clone(),
            alive.clone(),
        );
        tokio::spawn(async move {
            let _alive = alive;
            let conn = Conn::open(limits, slot, lane);
            let service = hyper::service::service_fn({
                let conn = conn.clone();
                move |req: http::Request<Incoming>| {
                    let (endpoint, probes, conn) = (endpoint.clone(), probes.clone(), conn.clone());
                    let version = req.version();
                    if version == Version::HTTP_2 {
                        conn.multiplexed();
                    }
                    let shed_it =
                        conn.lane() == Lane::Probe && !probes.paths.contains(&req.uri().path());
                    let mut request: poem::Request =
                        (req, local.clone(), remote.clone(), scheme.clone()).into();
                    async move {
                        if shed_it {
                            return Ok::<_, Infallible>(shed(&probes, version));
                        }
                        let busy = conn.busy();
                        let body = request.take_body();
                        request.set_body(Metered::wrap(body, conn.clone()));
                        let resp: Response<BoxBody<Bytes, io::Error>> =
                            endpoint.get_response(request).await.into();
                        let mut resp = resp.map(|body| Guarded::wrap(body, busy));
                        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                            conn.upgraded();
                        } else if version < Version::HTTP_2 && is_event_stream(&resp) {
                            conn.streaming();
                            resp = closing(resp, version);
                        } else if conn.lane() == Lane::Probe {
                            resp = closing(resp, version);
                        }
                        Ok(resp)
                    }
                }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().max_buf_size(HTTP1_BUFFER);
            let io = TokioIo::new(Watched::new(io, conn.clone()));
            let served = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(served);
            tokio::select! {
                _ = served.as_mut() => {}
                reason = conn.expired() => closed(reason),
                _ = until_draining(drain) => {
                    // Finish what is in flight, then close; a stuck client still times out.
                    served.as_mut().graceful_shutdown();
                    tokio::select! {
                        _ = served.as_mut() => {}
                        reason = conn.expired() => closed(reason),
                    }
                }
            }
        });
    }
    drop(acceptor);
    draining.send(true).ok();
    drop(alive);
    if tokio::time::timeout(grace, all_done.recv()).await.is_err() {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "connections still open after the grace period"
        );
    }
}

fn is_event_stream<B>(resp: &Response<B>) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// The response, telling an HTTP/1 client the connection ends with it (on the probe lane, a
/// shed request, or an event stream).
fn closing<B>(mut resp: Response<B>, version: Version) -> Response<B> {
    if version < Version::HTTP_2 {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// A request past `HTTP_MAX_CONNECTIONS` that is not a probe: 503, counted and (a line a second
/// at most) logged.
fn shed(probes: &Probes, version: Version) -> Response<BoxBody<Bytes, io::Error>> {
    closed("overloaded");
    if let Some(suppressed) = SHED_LOG.admit() {
        tracing::warn!(
            suppressed,
            "request shed: every HTTP_MAX_CONNECTIONS slot is taken"
        );
    }
    closing((probes.overloaded)().into(), version)
}

/// Resolves when the server starts draining (never, if it is gone without saying so).
async fn until_draining(mut drain: signal::Receiver<bool>) {
    loop {
        let draining = *drain.borrow_and_update();
        if draining || drain.changed().await.is_err() {
            return;
        }
    }
}

fn closed(reason: &'static str) {
    metrics::counter!("http_server_connections_closed_total", "reason" => reason).increment(1);
    tracing::debug!(reason, "closed a client connection");
}

/// Why the server closes a connection, each counted from 0.
const REASONS: [&str; 4] = ["header_timeout", "idle", "slow_client", "overloaded"];

fn describe() {
    metrics::describe_gauge!("http_server_connections", "Open client connections");
    metrics::describe_counter!(
        "http_server_connections_closed_total",
        "Connections the server closed: header_timeout (a request head not complete in time), idle (no request for the keep-alive time), slow_client (below HTTP_MIN_DATA_RATE while the service waited on it), overloaded (past HTTP_MAX_CONNECTIONS, a request that is not a probe, answered 503)"
    );
    // Every reason at 0 from the start, so their rates have a series before the first close.
    for reason in REASONS {
        metrics::counter!("http_server_connections_closed_total", "reason" => reason).absolute(0);
    }
}
