//! The two bodies of an exchange, watched for their connection (`watch::Conn`):
//!
//! - `Metered`, a request body: while the handler waits for its next bytes, the service waits on
//!   the client, and the slow-client rule counts (`budget.rs`);
//! - `Guarded`, a response body: the connection is busy until it is written out (or dropped), not
//!   just until the handler returns, so a download or an event stream longer than the
//!   keep-alive is never closed as "idle".

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, combinators::BoxBody};

use super::{
    budget::Side,
    watch::{Busy, Conn},
};

/// A request body that tells its connection when the handler waits for the client.
pub struct Metered {
    inner: BoxBody<Bytes, io::Error>,
    conn: Conn,
    waiting: bool,
}

impl Metered {
    /// Wraps a request's body.
    pub fn wrap(body: poem::Body, conn: Conn) -> poem::Body {
        let inner = BoxBody::from(body);
        poem::Body::from(
            Metered {
                inner,
                conn,
                waiting: false,
            }
            .boxed(),
        )
    }

    fn set_waiting(&mut self, waiting: bool) {
        if self.waiting != waiting {
            self.waiting = waiting;
            self.conn.waiting(Side::Read, waiting);
        }
    }
}

impl Body for Metered {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        self.set_waiting(polled.is_pending());
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            self.conn.moved(frame.data_ref().map_or(0, Bytes::len));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        // A handler that stops reading (a 413, say) stops waiting.
        self.set_waiting(false);
    }
}

/// A response body that keeps its connection busy until it ends.
pub struct Guarded {
    inner: BoxBody<Bytes, io::Error>,
    busy: Option<Busy>,
}

impl Guarded {
    pub fn wrap(inner: BoxBody<Bytes, io::Error>, busy: Busy) -> BoxBody<Bytes, io::Error> {
        Guarded {
            inner,
            busy: Some(busy),
        }
        .boxed()
    }
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None | Some(Err(_))) = polled {
            self.busy = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
