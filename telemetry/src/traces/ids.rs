//! Trace and span ids: random, from a generator per thread (wyrand, seeded from the process's
//! random hasher keys, the thread and the clock), so a span's ids cost a few multiplications
//! and no lock. W3C asks ids to be unique, not unpredictable; none is ever zero (invalid).

use std::{
    cell::Cell,
    hash::BuildHasher,
    time::{SystemTime, UNIX_EPOCH},
};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    std::hash::RandomState::new().hash_one((std::thread::current().id(), nanos))
}

fn next() -> u64 {
    STATE.with(|state| {
        let x = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

pub(crate) fn trace_id() -> u128 {
    loop {
        let id = (u128::from(next()) << 64) | u128::from(next());
        if id != 0 {
            return id;
        }
    }
}

pub(crate) fn span_id() -> u64 {
    loop {
        let id = next();
        if id != 0 {
            return id;
        }
    }
}

/// Lower-case hex of `bytes` into `out` (twice as long), without an allocation.
pub(crate) fn hex<'a>(bytes: &[u8], out: &'a mut [u8]) -> &'a str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&out[..2 * bytes.len()]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_and_print_as_hex() {
        let (a, b) = (trace_id(), trace_id());
        assert_ne!(a, b);
        assert_ne!(span_id(), span_id());
        let mut out = [0u8; 32];
        assert_eq!(hex(&a.to_be_bytes(), &mut out), format!("{a:032x}"));
    }
}
