//! Per-connection rules, kept from two sides: the socket (`Watched` notes when a request's first
//! bytes arrive, and when a write waits on the client) and the service (`Conn::busy` from a
//! request's head to the end of its response body; `Metered` while a body is read).
//!
//! A connection is, at any moment, in one of three states:
//! - **busy**: a request is in flight (its body is read, its handler runs, or its response is
//!   written): no timeout, but while the service waits on the client it must keep up
//!   `HTTP_MIN_DATA_RATE` (`budget.rs`); handlers are bounded by their own (database) timeouts;
//! - **reading a head**: bytes arrived with nothing in flight: the head must complete within
//!   the header-read timeout (a fresh connection counts as this from its first moment, so a
//!   client that connects and sends nothing is closed as soon);
//! - **idle**: between requests: it closes after the keep-alive timeout.
//!
//! An upgraded connection (WebSocket) leaves these rules: its protocol keeps its own. On HTTP/2
//! only the first head is timed; after it, bytes between requests are frames, not heads.
//!
//! A connection holds its server slot (`HTTP_MAX_CONNECTIONS`) until it ends, or until it
//! becomes something that lives on without taking requests: an upgraded socket, or an HTTP/1.1
//! event stream (those have caps of their own, in `broadcast`).

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::OwnedSemaphorePermit,
};

use super::{
    Limits,
    budget::{Budget, Side},
};

/// How often a connection's deadlines are looked at.
const TICK: Duration = Duration::from_millis(250);

/// The header-read timeout on the probe lane: a probe sends its request at once, and a client
/// that takes a probe slot to say nothing must give it back quickly.
const PROBE_HEAD_WITHIN: Duration = Duration::from_secs(1);

/// Which of the server's slots a connection holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// One of `HTTP_MAX_CONNECTIONS`.
    Regular,
    /// One of the few taken in past them, for the health probes only (see `mod.rs`).
    Probe,
}

#[derive(Clone)]
pub struct Conn(Arc<State>);

struct State {
    limits: Limits,
    lane: Lane,
    /// Given back when the connection ends, or once it no longer takes requests.
    slot: Mutex<Option<OwnedSemaphorePermit>>,
    in_flight: AtomicUsize,
    upgraded: AtomicBool,
    /// HTTP/2: frames (pings, window updates) arrive between requests, so arriving bytes do not
    /// mean a head is being read; only the keep-alive applies.
    multiplexed: AtomicBool,
    /// When the current head began to arrive (`None`: idle, or busy).
    head_since: Mutex<Option<Instant>>,
    /// When the connection last became idle.
    idle_since: Mutex<Instant>,
    budget: Mutex<Budget>,
}

/// Ends the busy state when dropped, however the request ends.
pub struct Busy(Conn);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Conn {
    /// A new connection, holding `slot`: reading its first head from now.
    pub fn open(limits: Limits, slot: OwnedSemaphorePermit, lane: Lane) -> Conn {
        metrics::gauge!("http_server_connections").increment(1.0);
        let now = Instant::now();
        Conn(Arc::new(State {
            limits,
            lane,
            slot: Mutex::new(Some(slot)),
            in_flight: AtomicUsize::new(0),
            upgraded: AtomicBool::new(false),
            multiplexed: AtomicBool::new(false),
            head_since: Mutex::new(Some(now)),
            idle_since: Mutex::new(now),
            budget: Mutex::new(Budget::new(limits.min_rate, limits.grace, now)),
        }))
    }

    pub fn lane(&self) -> Lane {
        self.0.lane
    }

    pub fn busy(&self) -> Busy {
        self.0.in_flight.fetch_add(1, Ordering::SeqCst);
        *lock(&self.0.head_since) = None;
        Busy(self.clone())
    }

    /// A WebSocket now: its slot is given back, and these rules no longer apply.
    pub fn upgraded(&self) {
        self.0.upgraded.store(true, Ordering::SeqCst);
        self.release();
    }

    /// An HTTP/1.1 event stream: it takes no more requests (its response says `Connection:
    /// close`), so its slot is given back; the stream's own caps bound how many there are.
    pub fn streaming(&self) {
        self.release();
    }

    fn release(&self) {
        lock(&self.0.slot).take();
    }

    pub fn multiplexed(&self) {
        self.0.multiplexed.store(true, Ordering::SeqCst);
    }

    /// Bytes arrived: with nothing in flight, a head is being read.
    fn read_some(&self) {
        if self.0.in_flight.load(Ordering::SeqCst) == 0
            && !self.0.multiplexed.load(Ordering::SeqCst)
        {
            lock(&self.0.head_since).get_or_insert_with(Instant::now);
        }
    }

    /// The service starts or stops waiting on the client (`budget.rs`).
    pub fn waiting(&self, side: Side, waiting: bool) {
        let mut budget = lock(&self.0.budget);
        if waiting {
            budget.wait(side, Instant::now());
        } else {
            budget.done_waiting(side, Instant::now());
        }
    }

    /// The client moved `bytes` (a request body's, or a response's).
    pub fn moved(&self, bytes: usize) {
        lock(&self.0.budget).moved(bytes, Instant::now());
    }

    /// Resolves, with the reason, when the connection has outlived a deadline.
    pub async fn expired(&self) -> &'static str {
        loop {
            tokio::time::sleep(TICK).await;
            if self.0.upgraded.load(Ordering::SeqCst) {
                return std::future::pending().await;
            }
            if lock(&self.0.budget).exhausted(Instant::now()) {
                return "slow_client";
            }
            if self.0.in_flight.load(Ordering::SeqCst) > 0 {
                continue;
            }
            let limits = self.0.limits;
            let header_read = match self.0.lane {
                Lane::Regular => limits.header_read,
                Lane::Probe => limits.header_read.min(PROBE_HEAD_WITHIN),
            };
            if let Some(since) = *lock(&self.0.head_since) {
                if since.elapsed() >= header_read {
                    return "header_timeout";
                }
            } else if lock(&self.0.idle_since).elapsed() >= limits.keep_alive {
                return "idle";
            }
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            *lock(&self.0.0.idle_since) = Instant::now();
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        metrics::gauge!("http_server_connections").decrement(1.0);
    }
}

/// A socket that tells its `Conn` when bytes arrive, and when a write waits on the client.
pub struct Watched<Io> {
    io: Io,
    conn: Conn,
    write_blocked: bool,
}

impl<Io> Watched<Io> {
    pub fn new(io: Io, conn: Conn) -> Watched<Io> {
        Watched {
            io,
            conn,
            write_blocked: false,
        }
    }

    /// Notes a write's outcome: blocked (the client is not reading), or `written` bytes.
    fn wrote(&mut self, polled: &Poll<io::Result<usize>>) {
        match polled {
            Poll::Pending if !self.write_blocked => {
                self.write_blocked = true;
                self.conn.waiting(Side::Write, true);
            }
            Poll::Pending => {}
            Poll::Ready(result) => {
                if std::mem::take(&mut self.write_blocked) {
                    self.conn.waiting(Side::Write, false);
                }
                if let Ok(n) = result {
                    self.conn.moved(*n);
                }
            }
        }
    }
}

impl<Io> Drop for Watched<Io> {
    fn drop(&mut self) {
        if self.write_blocked {
            self.conn.waiting(Side::Write, false);
        }
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
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(&polled);
        polled
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
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
