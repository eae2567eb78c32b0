//! A JSON log line written straight into its text (`Line`): no map, no value per field, keys
//! in a fixed order, strings escaped as they are copied (eight bytes at a time looking for
//! what needs it) and the timestamp's digits put in place by hand. `lines.rs` fills one per
//! event.

use std::{
    fmt::{self, Write as _},
    time::{SystemTime, UNIX_EPOCH},
};

use tracing::field::{Field, Visit};

/// A JSON object written straight into its text. Keys come in a fixed order (timestamp, level,
/// target, the event's fields, then what spans gave).
pub(crate) struct Line(String);

impl Line {
    /// A line written into `text`, an empty buffer (`spare.rs`).
    pub fn new(mut text: String) -> Line {
        text.push('{');
        Line(text)
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        escaped(&mut self.0, key);
        self.0.push(':');
    }

    pub fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        escaped(&mut self.0, value);
    }

    /// A number or a boolean, already in JSON's form.
    fn raw(&mut self, key: &str, value: &str) {
        self.key(key);
        self.0.push_str(value);
    }

    /// A Debug value, formatted straight into the line.
    fn debug(&mut self, key: &str, value: &dyn fmt::Debug) {
        self.key(key);
        self.0.push('"');
        write!(Escaping(&mut self.0), "{value:?}").ok();
        self.0.push('"');
    }

    /// The line, ending in a newline (which Loki's encoder leaves out).
    pub fn finish(mut self) -> String {
        self.0.push_str("}\n");
        self.0
    }
}

/// `value` as a JSON string.
fn escaped(out: &mut String, value: &str) {
    out.push('"');
    escape_into(out, value);
    out.push('"');
}

/// Whether any of the eight bytes of `word` must be escaped in a JSON string: a quote, a
/// backslash or a control character (the bit tricks of "Bit Twiddling Hacks": a zero byte, a
/// byte below 0x20).
fn dirty(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    (zero(word ^ (ONES * u64::from(b'"'))) | zero(word ^ (ONES * u64::from(b'\\'))) | below_space)
        != 0
}

/// Where the next byte to escape is, from `at`: clean words are passed eight bytes at a time.
fn next_escape(bytes: &[u8], mut at: usize) -> Option<usize> {
    while let Some(word) = bytes.get(at..at + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        if dirty(u64::from_le_bytes(w)) {
            break;
        }
        at += 8;
    }
    let rest = bytes.get(at..)?;
    rest.iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        .map(|p| p + at)
}

/// Whether nothing in `bytes` needs escaping, read eight bytes at a time (the last word padded
/// with spaces, which need nothing).
fn clean(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    for word in words.by_ref() {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        if dirty(u64::from_le_bytes(w)) {
            return false;
        }
    }
    let rest = words.remainder();
    let mut w = [b' '; 8];
    w[..rest.len()].copy_from_slice(rest);
    !dirty(u64::from_le_bytes(w))
}

/// Appends `s`, escaped: runs with nothing to escape are copied whole. Only ASCII bytes are
/// escaped, so the index after one is a char boundary.
fn escape_into(out: &mut String, s: &str) {
    if clean(s.as_bytes()) {
        out.push_str(s);
        return;
    }
    let mut start = 0;
    while let Some(i) = next_escape(s.as_bytes(), start) {
        out.push_str(&s[start..i]);
        match s.as_bytes()[i] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b => {
                write!(out, "\\u{b:04x}").ok();
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Escapes what is written through it, so a Debug value is formatted straight into the line.
struct Escaping<'a>(&'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field.name(), value);
    }
    // Numbers through itoa and ryu: the `Display` machinery cost as much as the rest of a
    // number's way into the line.
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field.name(), itoa::Buffer::new().format(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field.name(), itoa::Buffer::new().format(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field.name(), ryu::Buffer::new().format_finite(value));
        } else {
            // JSON has no NaN or infinity.
            self.string(field.name(), &value.to_string());
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field.name(), if value { "true" } else { "false" });
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.debug(field.name(), value);
    }
}

impl Line {
    /// `at` as `timestamp`: RFC 3339 in UTC with microseconds (`2026-12-07T22:52:28.123456Z`),
    /// its digits put in place by hand (`write!` with widths cost a tenth of a line).
    pub fn timestamp(&mut self, at: SystemTime) {
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let (days, rest) = (secs / 86_400, secs % 86_400);
        // Days to a civil date (Howard Hinnant's algorithm, for dates after 1970).
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        let mut text = *b"\"0000-00-00T00:00:00.000000Z\"";
        for (at, width, value) in [
            (1, 4, year),
            (6, 2, month),
            (9, 2, day),
            (12, 2, rest / 3_600),
            (15, 2, rest / 60 % 60),
            (18, 2, rest % 60),
            (21, 6, u64::from(since.subsec_micros())),
        ] {
            let mut value = value;
            for digit in text[at..at + width].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        self.key("timestamp");
        // Only ASCII digits and punctuation were written.
        self.0
            .push_str(std::str::from_utf8(&text).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_finds_what_needs_it_wherever_it_falls() {
        for len in 0..40 {
            for special in ['"', '\\', '\n', '\u{1}', '\u{1f}', 'é', ' ', '~', '\u{7f}'] {
                for at in 0..len {
                    let value: String = (0..len)
                        .map(|i| if i == at { special } else { 'a' })
                        .collect();
                    let mut line = Line::new(String::new());
                    line.string("v", &value);
                    let text = line.finish();
                    let parsed: serde_json::Value = serde_json::from_str(&text).expect(&text);
                    assert_eq!(parsed["v"], value.as_str());
                }
            }
        }
    }

    #[test]
    fn lines_are_json_whatever_the_values() {
        let mut line = Line::new(String::new());
        line.string("message", "quote \" backslash \\ newline \n bell \u{7} é");
        line.raw("n", "3");
        line.raw("ok", "true");
        line.debug("debug", &"a\"b");
        let text = line.finish();
        assert!(text.ends_with("}\n"));
        let parsed: serde_json::Value = serde_json::from_str(&text).expect(&text);
        assert_eq!(
            parsed["message"],
            "quote \" backslash \\ newline \n bell \u{7} é"
        );
        assert_eq!(parsed["n"], 3);
        assert_eq!(parsed["ok"], true);
        assert_eq!(parsed["debug"], "\"a\\\"b\"");
    }

    #[test]
    fn timestamps_as_rfc_3339() {
        let at = |secs: u64, micros: u64| {
            let mut line = Line::new(String::new());
            line.timestamp(
                UNIX_EPOCH + std::time::Duration::from_micros(secs * 1_000_000 + micros),
            );
            let text = line.finish();
            let parsed: serde_json::Value = serde_json::from_str(&text).expect(&text);
            parsed["timestamp"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_default()
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        // A leap day, and the last microsecond of a year.
        assert_eq!(at(1_709_210_096, 7), "2024-02-29T12:34:56.000007Z");
        assert_eq!(at(1_798_761_599, 999_999), "2026-12-31T23:59:59.999999Z");
    }
}
