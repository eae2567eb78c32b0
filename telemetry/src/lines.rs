//! JSON log lines, built once per event and written where configured: stdout
//! (`LogFormat::Json`, through `stdout.rs`) and the Loki queue. A line is the event's fields, `timestamp`, `level`,
//! `target`, and what it inherits from the spans around it: `tenant`, `trace_id`, `span_id`.
//!
//! Why not tracing-subscriber's JSON formatter: it writes every span's fields out as JSON when
//! the span opens, then parses and rewrites that JSON on each later `record`. The request span
//! records five fields after it opens and every SQL statement is a span, so with it one access
//! line per request cost about a quarter of the request rate in `bench-telemetry.sh`. Here a
//! span keeps only the three strings a line inherits (`Inherited`, in the span's extensions).

use std::fmt::{self, Write as _};

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
};
use tracing_subscriber::{layer::Context, registry::LookupSpan};

use crate::{loki, stdout::Stdout};

pub(crate) struct JsonLines {
    pub stdout: Option<Stdout>,
    pub loki: Option<loki::Sink>,
}

/// The fields of a span that log lines inherit.
#[derive(Default)]
struct Inherited {
    tenant: Option<String>,
    trace_id: Option<String>,
    span_id: Option<String>,
}

impl Visit for Inherited {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "tenant.id" => self.tenant = Some(value.to_owned()),
            "trace_id" => self.trace_id = Some(value.to_owned()),
            "span_id" => self.span_id = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "tenant.id" | "trace_id" | "span_id") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

/// A JSON object written straight into its text: no map, no value per field. Keys come in a
/// fixed order (timestamp, level, target, the event's fields, then what spans gave).
struct Line(String);

impl Line {
    fn new() -> Line {
        let mut text = String::with_capacity(256);
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

    fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        escaped(&mut self.0, value);
    }

    fn number(&mut self, key: &str, value: impl fmt::Display) {
        self.key(key);
        write!(self.0, "{value}").ok();
    }

    /// A Debug value, formatted straight into the line.
    fn debug(&mut self, key: &str, value: &dyn fmt::Debug) {
        self.key(key);
        self.0.push('"');
        write!(Escaping(&mut self.0), "{value:?}").ok();
        self.0.push('"');
    }

    fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// `value` as a JSON string.
fn escaped(out: &mut String, value: &str) {
    out.push('"');
    Escaping(out).write_str(value).ok();
    out.push('"');
}

/// Escapes what is written through it, so a Debug value is formatted straight into the line.
struct Escaping<'a>(&'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Runs with nothing to escape are copied whole (char by char, this was a tenth of a log
        // line's cost). Only ASCII bytes are escaped, so the index after one is a char boundary.
        let mut start = 0;
        for (i, b) in s.bytes().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                b if b < 0x20 => "",
                _ => continue,
            };
            self.0.push_str(&s[start..i]);
            if escape.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.push_str(escape);
            }
            start = i + 1;
        }
        self.0.push_str(&s[start..]);
        Ok(())
    }
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field.name(), value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field.name(), value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field.name(), value);
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.number(field.name(), value);
        } else {
            // JSON has no NaN or infinity.
            self.string(field.name(), &value.to_string());
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.number(field.name(), value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.debug(field.name(), value);
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for JsonLines {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut inherited = Inherited::default();
            attrs.record(&mut inherited);
            span.extensions_mut().insert(inherited);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(inherited) = span.extensions_mut().get_mut::<Inherited>()
        {
            values.record(inherited);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut found = Inherited::default();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(i) = span.extensions().get::<Inherited>() {
                    found.tenant = found.tenant.or_else(|| i.tenant.clone());
                    found.trace_id = found.trace_id.or_else(|| i.trace_id.clone());
                    found.span_id = found.span_id.or_else(|| i.span_id.clone());
                }
            }
        }
        let meta = event.metadata();
        let mut line = Line::new();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        line.string("timestamp", &now);
        line.string("level", meta.level().as_str());
        line.string("target", meta.target());
        event.record(&mut line);
        for (key, value) in [
            ("tenant", &found.tenant),
            ("trace_id", &found.trace_id),
            ("span_id", &found.span_id),
        ] {
            if let Some(value) = value {
                line.string(key, value);
            }
        }
        let text = line.finish();
        match (&self.stdout, &self.loki) {
            (Some(stdout), Some(loki)) => {
                stdout.send(format!("{text}\n"));
                loki.send(meta.level(), found.tenant.as_deref(), text);
            }
            (Some(stdout), None) => stdout.send(text + "\n"),
            (None, Some(loki)) => loki.send(meta.level(), found.tenant.as_deref(), text),
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_whatever_the_values() {
        let mut line = Line::new();
        line.string("message", "quote \" backslash \\ newline \n bell \u{7} é");
        line.number("n", 3);
        line.number("ok", true);
        line.debug("debug", &"a\"b");
        let text = line.finish();
        let parsed: serde_json::Value = serde_json::from_str(&text).expect(&text);
        assert_eq!(
            parsed["message"],
            "quote \" backslash \\ newline \n bell \u{7} é"
        );
        assert_eq!(parsed["n"], 3);
        assert_eq!(parsed["ok"], true);
        assert_eq!(parsed["debug"], "\"a\\\"b\"");
    }
}
