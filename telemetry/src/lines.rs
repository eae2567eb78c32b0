//! JSON log lines, built once per event and written where configured: stdout
//! (`LogFormat::Json`) and the Loki queue. A line is the event's fields, `timestamp`, `level`,
//! `target`, and what it inherits from the spans around it: `tenant`, `trace_id`, `span_id`.
//!
//! Why not tracing-subscriber's JSON formatter: it writes every span's fields out as JSON when
//! the span opens, then parses and rewrites that JSON on each later `record`. The request span
//! records five fields after it opens and every SQL statement is a span, so with it one access
//! line per request cost about a quarter of the request rate in `bench-telemetry.sh`. Here a
//! span keeps only the three strings a line inherits (`Inherited`, in the span's extensions).

use std::{fmt, io::Write};

use serde_json::{Map, Value};
use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
};
use tracing_subscriber::{layer::Context, registry::LookupSpan};

use crate::loki;

pub(crate) struct JsonLines {
    pub stdout: bool,
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

/// An event's own fields, as JSON.
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
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
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let mut line = fields.0;
        line.insert(
            "timestamp".into(),
            Value::from(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert("level".into(), Value::from(meta.level().as_str()));
        line.insert("target".into(), Value::from(meta.target()));
        for (key, value) in [
            ("tenant", &found.tenant),
            ("trace_id", &found.trace_id),
            ("span_id", &found.span_id),
        ] {
            if let Some(value) = value {
                line.insert(key.into(), Value::from(value.as_str()));
            }
        }
        let mut text = Value::Object(line).to_string();
        if self.stdout {
            text.push('\n');
            // A closed stdout (a detached process) must not take the service down with it.
            std::io::stdout().lock().write_all(text.as_bytes()).ok();
            text.pop();
        }
        if let Some(loki) = &self.loki {
            loki.send(meta.level(), found.tenant.as_deref(), text);
        }
    }
}
