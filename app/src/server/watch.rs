//! Per-connection timeouts, kept from two sides: the socket (`Watched` notes when a request's
//! first bytes arrive) and the service (`Conn::busy` while a request is being answered).
//!
//! A connection is, at any moment, in one of three states:
//! - **busy**: a request is in flight (its handler runs, or its body is read): no timeout here;
//!   handlers are bounded by their own (database) timeouts;
//! - **reading a head**: bytes arrived with nothing in flight: the head must complete within
//!   the header-read timeout (a fresh connection counts as this from its first moment, so a
//!   client that connects and sends nothing is closed as soon);
//! - **idle**: between requests: it closes after the keep-alive timeout.
//!
//! An upgraded connection (WebSocket) leaves these rules: its protocol keeps its own. On HTTP/2
//! only the first head is timed; after it, bytes between requests are frames, not heads.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::Limits;

/// How often a connection's deadlines are looked at.
const TICK: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Conn(Arc<State>);

struct State {
    limits: Limits,
    in_flight: AtomicUsize,
    upgraded: AtomicBool,
    /// HTTP/2: frames (pings, window updates) arrive between requests, so arriving bytes do not
    /// mean a head is being read; only the keep-alive applies.
    multiplexed: AtomicBool,
    /// When the current head began to arrive (`None`: idle, or busy).
    head_since: Mutex<Option<Instant>>,
    /// When the connection last became idle.
    idle_since: Mutex<Instant>,
}

/// Ends the busy state when dropped, however the request ends.
pub struct Busy(Conn);

impl Conn {
    /// A new connection: reading its first head from now.
    pub fn open(limits: Limits) -> Conn {
        metrics::gauge!("http_server_connections").increment(1.0);
        let now = Instant::now();
        Conn(Arc::new(State {
            limits,
            in_flight: AtomicUsize::new(0),
            upgraded: AtomicBool::new(false),
            multiplexed: AtomicBool::new(false),
            head_since: Mutex::new(Some(now)),
            idle_since: Mutex::new(now),
        }))
    }

    fn head_since(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.0.head_since.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn idle_since(&self) -> std::sync::MutexGuard<'_, Instant> {
        self.0.idle_since.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn busy(&self) -> Busy {
        self.0.in_flight.fetch_add(1, Ordering::SeqCst);
        *self.head_since() = None;
        Busy(self.clone())
    }

    pub fn upgraded(&self) {
        self.0.upgraded.store(true, Ordering::SeqCst);
    }

    pub fn multiplexed(&self) {
        self.0.multiplexed.store(true, Ordering::SeqCst);
    }

    /// Bytes arrived: with nothing in flight, a head is being read.
    fn read_some(&self) {
        if self.0.in_flight.load(Ordering::SeqCst) == 0
            && !self.0.multiplexed.load(Ordering::SeqCst)
        {
            self.head_since().get_or_insert_with(Instant::now);
        }
    }

    /// Resolves, with the reason, when the connection has outlived a deadline.
    pub async fn expired(&self) -> &'static str {
        loop {
            tokio::time::sleep(TICK).await;
            if self.0.upgraded.load(Ordering::SeqCst) {
                return std::future::pending().await;
            }
            if self.0.in_flight.load(Ordering::SeqCst) > 0 {
                continue;
            }
            let limits = self.0.limits;
            if let Some(since) = *self.head_since() {
                if since.elapsed() >= limits.header_read {
                    return "header_timeout";
                }
            } else if self.idle_since().elapsed() >= limits.keep_alive {
                return "idle";
            }
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            *self.0.idle_since() = Instant::now();
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        metrics::gauge!("http_server_connections").decrement(1.0);
    }
}

/// A socket that tells its `Conn` when bytes arrive.
pub struct Watched<Io> {
    io: Io,
    conn: Conn,
}

impl<Io> Watched<Io> {
    pub fn new(io: Io, conn: Conn) -> Watched<Io> {
        Watched { io, conn }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Watched<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.read_some();
        }
        polled
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Watched<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
