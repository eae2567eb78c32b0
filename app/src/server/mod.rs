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
//! Shutdown works as poem's did: on the signal, stop accepting, ask every connection to finish its
//! in-flight requests and close, and wait for them at most the grace period.

mod watch;

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use poem::{
    Endpoint, IntoEndpoint,
    listener::{Acceptor, TcpAcceptor},
};
use tokio::sync::{Semaphore, watch as signal};

use watch::{Conn, Watched};

/// The limits of `HTTP_*` settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read: Duration,
    pub keep_alive: Duration,
    pub max_connections: usize,
}

/// Serves `endpoint` on `acceptor` until `stop` resolves, then drains for at most `grace`.
pub async fn serve<E>(
    mut acceptor: TcpAcceptor,
    endpoint: E,
    limits: Limits,
    stop: impl Future<Output = ()>,
    grace: Duration,
) where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    describe();
    let endpoint = Arc::new(endpoint.into_endpoint());
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (draining, drain) = signal::channel(false);
    tokio::pin!(stop);
    loop {
        let slot = tokio::select! {
            _ = &mut stop => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
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
        // With Nagle's algorithm on (poem's acceptor leaves it on), a response written in two
        // pieces (a streamed download's last chunk, held until its hash matches) waits for the
        // client's delayed ACK of the first: 40 ms on Linux, in the p99 of every download (P6).
        if let Err(e) = io.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let endpoint = endpoint.clone();
        let drain = drain.clone();
        tokio::spawn(async move {
            let conn = Conn::open(limits);
            let service = hyper::service::service_fn({
                let conn = conn.clone();
                move |req: http::Request<Incoming>| {
                    let (endpoint, conn) = (endpoint.clone(), conn.clone());
                    if req.version() == http::Version::HTTP_2 {
                        conn.multiplexed();
                    }
                    let request = (req, local.clone(), remote.clone(), scheme.clone()).into();
                    async move {
                        let busy = conn.busy();
                        let resp = endpoint.get_response(request).await;
                        if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
                            conn.upgraded();
                        }
                        drop(busy);
                        Ok::<http::Response<_>, Infallible>(resp.into())
                    }
                }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
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
            drop(slot);
        });
    }
    drop(acceptor);
    draining.send(true).ok();
    // Every connection holds a slot until it ends: all slots back means all connections done.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "connections still open after the grace period"
        );
    }
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

fn describe() {
    metrics::describe_gauge!("http_server_connections", "Open client connections");
    metrics::describe_counter!(
        "http_server_connections_closed_total",
        "Connections the server closed: header_timeout (a request head not complete in time), idle (no request for the keep-alive time)"
    );
    // Both reasons at 0 from the start, so their rates have a series before the first close.
    for reason in ["header_timeout", "idle"] {
        metrics::counter!("http_server_connections_closed_total", "reason" => reason).absolute(0);
    }
}
