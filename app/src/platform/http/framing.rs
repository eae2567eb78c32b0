//! A bound on a multipart body's framing: the preamble and each part's header block.
//!
//! multer (under poem's multipart) caps what a part holds, if asked, but not what surrounds it:
//! it buffers the preamble until the first boundary and each header block until its blank line,
//! searching the whole buffer again as each chunk arrives. A part whose header block never ends
//! was held whole, and searched quadratically: one 256 MiB request took ~250 MiB and ~10 s of
//! CPU. This stream sits between the body and multer and follows the same framing (boundary,
//! header block, content, next boundary) in one pass, carrying only a pattern's length across
//! chunks; a preamble or header block longer than `cap` fails the body before multer sees it.
//! Content bytes are not counted here: the fields' own limits are multer's.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures::Stream;

const BLANK_LINE: &[u8] = b"\r\n\r\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the first `--boundary`.
    Preamble,
    /// After a boundary, until the blank line that ends the part's headers.
    Headers,
    /// A part's content, until `\r\n--boundary`.
    Content,
    /// After the close delimiter (`--boundary--`): nobody reads it.
    Epilogue,
}

/// The framing scanner, fed chunk by chunk.
struct Scan {
    first: Vec<u8>,
    next: Vec<u8>,
    phase: Phase,
    /// The end of the bytes fed so far, as long as a pattern less one byte: a match may straddle
    /// two chunks.
    carry: Vec<u8>,
    /// Bytes of the current preamble or header block so far.
    since: usize,
    /// The first two bytes after a boundary (`--` closes the body).
    lead: Vec<u8>,
    cap: usize,
}

impl Scan {
    fn new(boundary: &str, cap: usize) -> Scan {
        Scan {
            first: format!("--{boundary}").into_bytes(),
            next: format!("\r\n--{boundary}").into_bytes(),
            phase: Phase::Preamble,
            carry: Vec::new(),
            since: 0,
            lead: Vec::with_capacity(2),
            cap,
        }
    }

    fn pattern(&self) -> &[u8] {
        match self.phase {
            Phase::Preamble => &self.first,
            Phase::Headers => BLANK_LINE,
            Phase::Content | Phase::Epilogue => &self.next,
        }
    }

    /// Follows `chunk`; `Err` once a preamble or a header block passes the cap.
    fn feed(&mut self, mut rest: &[u8]) -> Result<(), ()> {
        while !rest.is_empty() {
            if self.phase == Phase::Headers && self.lead.len() < 2 {
                let take = (2 - self.lead.len()).min(rest.len());
                self.lead.extend_from_slice(&rest[..take]);
                if self.lead == b"--" {
                    self.phase = Phase::Epilogue;
                }
            }
            if self.phase == Phase::Epilogue {
                return Ok(());
            }
            let counted = self.phase != Phase::Content;
            match self.find(rest) {
                Some(end) => {
                    self.since += end;
                    if counted && self.since > self.cap {
                        return Err(());
                    }
                    self.phase = match self.phase {
                        Phase::Preamble | Phase::Content => Phase::Headers,
                        Phase::Headers | Phase::Epilogue => Phase::Content,
                    };
                    self.since = 0;
                    self.lead.clear();
                    self.carry.clear();
                    rest = &rest[end..];
                }
                None => {
                    self.since += rest.len();
                    if counted && self.since > self.cap {
                        return Err(());
                    }
                    let keep = self.pattern().len() - 1;
                    self.carry.extend_from_slice(rest);
                    let drop = self.carry.len().saturating_sub(keep);
                    self.carry.drain(..drop);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Where in `rest` the first match of the phase's pattern ends, counting one that begins in
    /// the carried bytes.
    fn find(&self, rest: &[u8]) -> Option<usize> {
        let pattern = self.pattern();
        let mut junction = self.carry.clone();
        junction.extend_from_slice(&rest[..rest.len().min(pattern.len() - 1)]);
        if let Some(at) = memchr::memmem::find(&junction, pattern) {
            return Some(at + pattern.len() - self.carry.len());
        }
        memchr::memmem::find(rest, pattern).map(|at| at + pattern.len())
    }
}

/// A multipart body whose framing is bounded (see the module's essay).
pub struct Framed<S> {
    inner: S,
    scan: Scan,
}

impl<S> Framed<S> {
    /// `cap`: the longest preamble or part header block, in bytes.
    pub fn new(inner: S, boundary: &str, cap: usize) -> Framed<S> {
        Framed {
            inner,
            scan: Scan::new(boundary, cap),
        }
    }
}

/// The error a body fails with when its framing passes the cap; `upload` answers it with 431.
#[derive(Debug)]
pub struct FramingTooLarge;

impl std::fmt::Display for FramingTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a part's header block (or the preamble) is too long")
    }
}

impl std::error::Error for FramingTooLarge {}

impl<S: Stream<Item = io::Result<Bytes>> + Unpin> Stream for Framed<S> {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled
            && self.scan.feed(chunk).is_err()
        {
            return Poll::Ready(Some(Err(io::Error::other(FramingTooLarge))));
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nother\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n%PDF \r\n\r\n\r\n-- not a boundary\r\n--XyZ--\r\nepilogue";

    fn feed_in(chunks: &[&[u8]], cap: usize) -> Result<Phase, ()> {
        let mut scan = Scan::new("XyZ", cap);
        for chunk in chunks {
            scan.feed(chunk)?;
        }
        Ok(scan.phase)
    }

    #[test]
    fn follows_the_framing_however_it_is_cut() {
        for cut in 0..=BODY.len() {
            let (a, b) = BODY.split_at(cut);
            assert_eq!(feed_in(&[a, b], 64), Ok(Phase::Epilogue), "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = BODY.chunks(1).collect();
        assert_eq!(feed_in(&bytes, 64), Ok(Phase::Epilogue));
    }

    #[test]
    fn content_is_not_counted_but_a_long_header_block_is() {
        let big = [
            b"--XyZ\r\nA: b\r\n\r\n".as_slice(),
            &[b'x'; 100_000],
            b"\r\n--XyZ--",
        ];
        assert_eq!(feed_in(&big, 64), Ok(Phase::Epilogue));
        let endless = [b"--XyZ\r\nContent-Disposition: ".as_slice(), &[b'a'; 100]];
        assert_eq!(feed_in(&endless, 64), Err(()));
        let chunked: Vec<&[u8]> = std::iter::once(b"--XyZ\r\n".as_slice())
            .chain(std::iter::repeat_n(b"a".as_slice(), 65))
            .collect();
        assert_eq!(feed_in(&chunked, 64), Err(()), "counted across chunks");
    }

    #[test]
    fn a_long_preamble_is_refused() {
        assert_eq!(feed_in(&[&[b'p'; 65]], 64), Err(()));
        assert_eq!(
            feed_in(&[&[b'p'; 50], b"--XyZ\r\n"], 64),
            Ok(Phase::Headers)
        );
    }
}
