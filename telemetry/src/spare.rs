//! Buffers handed back for reuse: span messages and log lines are written on the request
//! threads and freed on the threads that ship them. With glibc's allocator that pattern is
//! dear: a buffer freed on another thread skips the freeing thread's cache for the arena's
//! bins, and the request thread's next buffer comes out of the bins again (`_int_malloc`,
//! `unlink_chunk`, `malloc_consolidate`: about a microsecond of an L1 hit's, `perf` on
//! `bench-telemetry.sh`). Here the shipping thread hands an emptied buffer back and the next
//! span or line takes it: no allocation in the steady state. A lock-free queue between them;
//! when it is empty a buffer is allocated, when full one is freed: never a wait.

use crossbeam_queue::ArrayQueue;

/// Larger buffers are freed rather than kept: one huge line must not hold its memory forever.
const MAX_KEPT: usize = 16 * 1024;

pub(crate) trait Buffer {
    /// A new buffer, sized for the usual span or line.
    fn fresh() -> Self;
    fn clear(&mut self);
    fn capacity(&self) -> usize;
}

impl Buffer for Vec<u8> {
    fn fresh() -> Self {
        // A server span with its access line's event is about 450 bytes: no growing.
        Vec::with_capacity(640)
    }
    fn clear(&mut self) {
        Vec::clear(self);
    }
    fn capacity(&self) -> usize {
        Vec::capacity(self)
    }
}

impl Buffer for String {
    fn fresh() -> Self {
        // An access line is about 350 bytes.
        String::with_capacity(512)
    }
    fn clear(&mut self) {
        String::clear(self);
    }
    fn capacity(&self) -> usize {
        String::capacity(self)
    }
}

#[derive(Debug)]
pub(crate) struct Spare<T>(ArrayQueue<T>);

impl<T: Buffer> Spare<T> {
    /// Keeps at most `kept` buffers.
    pub fn new(kept: usize) -> Spare<T> {
        Spare(ArrayQueue::new(kept.max(1)))
    }

    /// An empty buffer: one given back, or a new one.
    pub fn take(&self) -> T {
        self.0.pop().unwrap_or_else(T::fresh)
    }

    /// Empties `buffer` and keeps it for `take`, unless it is large or enough are kept.
    pub fn give(&self, mut buffer: T) {
        if buffer.capacity() <= MAX_KEPT {
            buffer.clear();
            self.0.push(buffer).ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_empty() {
        let spare: Spare<String> = Spare::new(2);
        let mut line = spare.take();
        line.push_str("{\"a\":1}");
        let at = line.as_ptr();
        spare.give(line);
        let again = spare.take();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), at);
    }

    #[test]
    fn large_buffers_are_not_kept_nor_more_than_asked() {
        let spare: Spare<Vec<u8>> = Spare::new(1);
        spare.give(Vec::with_capacity(MAX_KEPT + 1));
        assert_eq!(spare.0.len(), 0);
        spare.give(Vec::fresh());
        spare.give(Vec::fresh());
        assert_eq!(spare.0.len(), 1);
    }
}
