//! Protobuf's wire format, the little of it the exporters write by hand (`traces/otlp.rs`,
//! `loki.rs`): varints, fixed-width numbers and length-delimited fields, appended to a
//! `Vec<u8>`.

use std::fmt;

pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const FIXED32: u8 = 5;

pub(crate) fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub(crate) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

pub(crate) fn tag(buf: &mut Vec<u8>, field: u8, wire: u8) {
    varint(buf, u64::from(field) << 3 | u64::from(wire));
}

pub(crate) fn bytes(buf: &mut Vec<u8>, field: u8, value: &[u8]) {
    tag(buf, field, LEN);
    varint(buf, value.len() as u64);
    buf.extend_from_slice(value);
}

pub(crate) fn uint(buf: &mut Vec<u8>, field: u8, value: u64) {
    tag(buf, field, VARINT);
    varint(buf, value);
}

pub(crate) fn fixed64(buf: &mut Vec<u8>, field: u8, value: u64) {
    tag(buf, field, FIXED64);
    buf.extend_from_slice(&value.to_le_bytes());
}

pub(crate) fn fixed32(buf: &mut Vec<u8>, field: u8, value: u32) {
    tag(buf, field, FIXED32);
    buf.extend_from_slice(&value.to_le_bytes());
}

/// A length-delimited field whose body `write` appends. One byte is kept for the length; a
/// body of 128 bytes or more moves up to make room for the rest.
pub(crate) fn nested(buf: &mut Vec<u8>, field: u8, write: impl FnOnce(&mut Vec<u8>)) {
    tag(buf, field, LEN);
    let at = buf.len();
    buf.push(0);
    write(buf);
    let len = (buf.len() - at - 1) as u64;
    if len < 0x80 {
        buf[at] = len as u8;
    } else {
        let mut prefix = Vec::with_capacity(10);
        varint(&mut prefix, len);
        buf[at] = prefix[0];
        buf.splice(at + 1..at + 1, prefix[1..].iter().copied());
    }
}

/// Formats into a protobuf string's bytes.
pub(crate) struct Text<'a>(pub &'a mut Vec<u8>);

impl fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
