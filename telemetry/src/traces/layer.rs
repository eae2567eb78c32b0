//! The layer that makes `tracing` spans into trace spans, recording each one straight into
//! OTLP (`otlp.rs`) as it goes: `SpanState`, in the span's extensions, holds its ids and its
//! encoded message; on close the message goes to the export queue as it is.
//!
//! It keeps tracing-opentelemetry's conventions, which the service's spans are written in:
//! `otel.name`, `otel.kind` (`server`, `client`, `producer`, `consumer`, `internal`),
//! `otel.status_code` (`ERROR`, `OK`) and `otel.status_message` are the span's own fields, not
//! attributes; every other field is an attribute; an event inside a span is a span event (named
//! by its message, with its fields, `level` and `target`), and an ERROR event marks the span an
//! error. Unlike it, a span that is not sampled, or any span when nothing is exported, records
//! nothing but its ids: logs and response headers need them, nobody needs the rest; and the
//! access line (`http::ACCESS_LINE`) is no span event, since it repeats its span.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::TraceState;
use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
};
use tracing_subscriber::{layer::Context, registry::LookupSpan};

use super::{
    export::Queue,
    ids,
    otlp::{self, Value, field, kind, status},
    sampler::Sampler,
};

/// A span's ids and, while it is recorded, its message so far.
pub(crate) struct SpanState {
    pub trace_id: u128,
    pub span_id: u64,
    /// 0 for a root.
    pub parent_id: u64,
    pub remote_parent: bool,
    pub sampled: bool,
    pub trace_state: Option<TraceState>,
    start: u64,
    named: bool,
    kinded: bool,
    /// Fields are encoded into `body` (export on, and sampled or a root, which a remote parent
    /// may yet make sampled).
    recording: bool,
    body: Vec<u8>,
}

impl SpanState {
    /// Continues the trace of a remote parent (W3C or B3 context carried to us).
    pub fn adopt(&mut self, sampler: &Sampler, parent: &opentelemetry::trace::SpanContext) {
        self.trace_id = u128::from_be_bytes(parent.trace_id().to_bytes());
        self.parent_id = u64::from_be_bytes(parent.span_id().to_bytes());
        self.remote_parent = true;
        self.sampled = sampler.under(parent.is_sampled(), self.trace_id);
        let state = parent.trace_state();
        self.trace_state = (state != &TraceState::NONE).then(|| state.clone());
    }
}

pub(crate) struct SpanLayer {
    pub sampler: Sampler,
    /// Where finished spans go; `None` when nothing is exported.
    pub queue: Option<Queue>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Writes fields as `KeyValue`s at `at` (a span's or an event's attributes), and the one named
/// `name` (`otel.name`, an event's `message`) as the name at `name_at`.
struct KeyValues<'a> {
    buf: &'a mut Vec<u8>,
    at: u8,
    name: &'static str,
    name_at: u8,
}

impl KeyValues<'_> {
    fn value(&mut self, f: &Field, value: Value<'_>) {
        otlp::attribute(self.buf, self.at, f.name(), value);
    }
}

impl Visit for KeyValues<'_> {
    fn record_str(&mut self, f: &Field, value: &str) {
        if f.name() == self.name {
            otlp::bytes(self.buf, self.name_at, value.as_bytes());
        } else {
            self.value(f, Value::Str(value));
        }
    }

    fn record_debug(&mut self, f: &Field, value: &dyn std::fmt::Debug) {
        if f.name() == self.name {
            otlp::nested(self.buf, self.name_at, |name| {
                use std::fmt::Write as _;
                write!(otlp::Text(name), "{value:?}").ok();
            });
        } else {
            self.value(f, Value::Debug(value));
        }
    }

    fn record_i64(&mut self, f: &Field, value: i64) {
        self.value(f, Value::Int(value));
    }

    fn record_u64(&mut self, f: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.value(f, Value::Int(v)),
            Err(_) => self.value(f, Value::Debug(&value)),
        }
    }

    fn record_f64(&mut self, f: &Field, value: f64) {
        self.value(f, Value::Double(value));
    }

    fn record_bool(&mut self, f: &Field, value: bool) {
        self.value(f, Value::Bool(value));
    }
}

/// Writes a span's recorded fields into its message: the `otel.*` ones as the span's own
/// (kind, status), the rest through `KeyValues`.
struct Fields<'a>(&'a mut SpanState);

impl Fields<'_> {
    fn attributes(&mut self) -> KeyValues<'_> {
        KeyValues {
            buf: &mut self.0.body,
            at: field::ATTRIBUTES,
            name: "otel.name",
            name_at: field::NAME,
        }
    }

    fn special(&mut self, name: &str, value: &str) {
        let state = &mut *self.0;
        match name {
            "otel.kind" => {
                let k = [
                    ("server", kind::SERVER),
                    ("client", kind::CLIENT),
                    ("producer", kind::PRODUCER),
                    ("consumer", kind::CONSUMER),
                ]
                .into_iter()
                .find(|(name, _)| value.eq_ignore_ascii_case(name))
                .map_or(kind::INTERNAL, |(_, k)| k);
                otlp::uint(&mut state.body, field::KIND, k);
                state.kinded = true;
            }
            "otel.status_code" if value.eq_ignore_ascii_case("error") => {
                otlp::status(&mut state.body, Some(status::ERROR), None);
            }
            "otel.status_code" if value.eq_ignore_ascii_case("ok") => {
                otlp::status(&mut state.body, Some(status::OK), None);
            }
            "otel.status_message" | "otel.status_description" => {
                otlp::status(&mut state.body, None, Some(value));
            }
            _ => {}
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, f: &Field, value: &str) {
        if f.name() == "otel.name" {
            self.0.named = true;
        } else if f.name().starts_with("otel.") {
            return self.special(f.name(), value);
        }
        self.attributes().record_str(f, value);
    }

    fn record_debug(&mut self, f: &Field, value: &dyn std::fmt::Debug) {
        if f.name() == "otel.name" {
            self.0.named = true;
        } else if f.name().starts_with("otel.") {
            // Rare: these are written as literals, which come as `&str`.
            return self.special(f.name(), &format!("{value:?}"));
        }
        self.attributes().record_debug(f, value);
    }

    fn record_i64(&mut self, f: &Field, value: i64) {
        self.attributes().record_i64(f, value);
    }

    fn record_u64(&mut self, f: &Field, value: u64) {
        self.attributes().record_u64(f, value);
    }

    fn record_f64(&mut self, f: &Field, value: f64) {
        self.attributes().record_f64(f, value);
    }

    fn record_bool(&mut self, f: &Field, value: bool) {
        self.attributes().record_bool(f, value);
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for SpanLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = if attrs.is_contextual() {
            ctx.lookup_current()
        } else {
            attrs.parent().and_then(|p| ctx.span(p))
        };
        let inherited = parent.and_then(|p| {
            p.extensions()
                .get::<SpanState>()
                .map(|s| (s.trace_id, s.span_id, s.sampled, s.trace_state.clone()))
        });
        let (trace_id, parent_id, sampled, trace_state) = match inherited {
            Some((trace, parent, sampled, state)) => {
                (trace, parent, self.sampler.under(sampled, trace), state)
            }
            None => {
                let trace = ids::trace_id();
                (trace, 0, self.sampler.root(trace), None)
            }
        };
        let recording = self.queue.is_some() && (sampled || parent_id == 0);
        let mut state = SpanState {
            trace_id,
            span_id: ids::span_id(),
            parent_id,
            remote_parent: false,
            sampled,
            trace_state,
            start: now(),
            named: false,
            kinded: false,
            recording,
            body: match &self.queue {
                Some(queue) if recording => queue.buffer(),
                _ => Vec::new(),
            },
        };
        if recording {
            attrs.record(&mut Fields(&mut state));
        }
        span.extensions_mut().insert(state);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(state) = span.extensions_mut().get_mut::<SpanState>()
            && state.recording
        {
            values.record(&mut Fields(state));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // The access line is a log line only (`http::ACCESS_LINE`).
        if event.metadata().name() == crate::http::ACCESS_LINE {
            return;
        }
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        let Some(state) = extensions.get_mut::<SpanState>() else {
            return;
        };
        if !state.recording {
            return;
        }
        let meta = event.metadata();
        otlp::nested(&mut state.body, field::EVENTS, |e| {
            otlp::fixed64(e, field::EVENT_TIME, now());
            event.record(&mut KeyValues {
                buf: e,
                at: field::EVENT_ATTRIBUTES,
                name: "message",
                name_at: field::EVENT_NAME,
            });
            let level = Value::Str(meta.level().as_str());
            otlp::attribute(e, field::EVENT_ATTRIBUTES, "level", level);
            let target = Value::Str(meta.target());
            otlp::attribute(e, field::EVENT_ATTRIBUTES, "target", target);
        });
        if *meta.level() == Level::ERROR {
            otlp::status(&mut state.body, Some(status::ERROR), None);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(queue) = &self.queue else { return };
        let Some(span) = ctx.span(&id) else { return };
        let Some(mut state) = span.extensions_mut().remove::<SpanState>() else {
            return;
        };
        if !(state.recording && state.sampled) {
            return;
        }
        let body = &mut state.body;
        if !state.named {
            otlp::bytes(body, field::NAME, span.metadata().name().as_bytes());
        }
        if !state.kinded {
            otlp::uint(body, field::KIND, kind::INTERNAL);
        }
        otlp::bytes(body, field::TRACE_ID, &state.trace_id.to_be_bytes());
        otlp::bytes(body, field::SPAN_ID, &state.span_id.to_be_bytes());
        if state.parent_id != 0 {
            otlp::bytes(body, field::PARENT_SPAN_ID, &state.parent_id.to_be_bytes());
        }
        if let Some(trace_state) = &state.trace_state {
            otlp::bytes(body, field::TRACE_STATE, trace_state.header().as_bytes());
        }
        otlp::fixed64(body, field::START, state.start);
        otlp::fixed64(body, field::END, now());
        // Sampled, and whether the parent is remote (the `SpanFlags` bits 8 and 9).
        let remote = if state.remote_parent { 0x300 } else { 0x100 };
        otlp::fixed32(body, field::FLAGS, 0x01 | remote);
        queue.span(std::mem::take(body));
    }
}

/// Runs `f` on `span`'s state, when the span is recorded by this layer.
pub(crate) fn with_state<R>(
    span: &tracing::Span,
    f: impl FnOnce(&mut SpanState) -> R,
) -> Option<R> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let span = registry.span(id)?;
        let mut extensions = span.extensions_mut();
        extensions.get_mut::<SpanState>().map(f)
    })
    .flatten()
}
