//! JSON log lines, built once per event and written where configured: stdout
//! (`LogFormat::Json`, through `stdout.rs`) and the Loki queue. A line is the event's fields, `timestamp`, `level`,
//! `target`, and what it takes from the spans around it: the nearest `tenant`, and the
//! `trace_id` and `span_id` of the innermost span (from the trace layer).
//!
//! Why not tracing-subscriber's JSON formatter: it writes every span's fields out as JSON when
//! the span opens, then parses and rewrites that JSON on each later `record`. The request span
//! records five fields after it opens and every SQL statement is a span, so with it one access
//! line per request cost about a quarter of the request rate in `bench-telemetry.sh`. Here only
//! a span that can name a tenant keeps anything (`Inherited`, in the span's extensions), and a
//! line is written once, into a buffer handed back by whoever ships it (`spare.rs`); Loki
//! gets a copy in another.

use std::{fmt, sync::Arc, time::SystemTime};

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
};
use tracing_subscriber::{layer::Context, registry::LookupSpan};

use crate::{
    json::Line,
    loki,
    spare::Spare,
    stdout::Stdout,
    traces::{ids, layer::SpanState},
};

pub(crate) struct JsonLines {
    pub stdout: Option<Stdout>,
    pub loki: Option<loki::Sink>,
    /// Line buffers stdout's writer and the Loki shipper have emptied.
    pub spare: Arc<Spare<String>>,
}

/// The tenant of a span that declares `tenant.id` (the request's), which its lines inherit.
/// Shared, not copied: a line takes a reference.
#[derive(Default)]
struct Inherited {
    tenant: Option<Arc<str>>,
}

impl Visit for Inherited {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "tenant.id" {
            self.tenant = Some(value.into());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "tenant.id" {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for JsonLines {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        // Only the spans that can name a tenant keep anything: most spans cost this layer
        // nothing.
        if attrs.metadata().fields().field("tenant.id").is_some()
            && let Some(span) = ctx.span(id)
        {
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
        // The innermost span's ids (the trace layer's), the nearest tenant.
        let mut tenant: Option<Arc<str>> = None;
        let mut ids: Option<(u128, u64)> = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let extensions = span.extensions();
                if ids.is_none()
                    && let Some(state) = extensions.get::<SpanState>()
                {
                    ids = Some((state.trace_id, state.span_id));
                }
                if tenant.is_none()
                    && let Some(i) = extensions.get::<Inherited>()
                {
                    tenant.clone_from(&i.tenant);
                }
                if ids.is_some() && tenant.is_some() {
                    break;
                }
            }
        }
        let meta = event.metadata();
        let mut line = Line::new(self.spare.take());
        line.timestamp(SystemTime::now());
        line.string("level", meta.level().as_str());
        line.string("target", meta.target());
        event.record(&mut line);
        if let Some(tenant) = &tenant {
            line.string("tenant", tenant);
        }
        if let Some((trace_id, span_id)) = ids {
            let mut hex = [0u8; 32];
            line.string("trace_id", ids::hex(&trace_id.to_be_bytes(), &mut hex));
            line.string("span_id", ids::hex(&span_id.to_be_bytes(), &mut hex));
        }
        let text = line.finish();
        match (&self.stdout, &self.loki) {
            (Some(stdout), Some(loki)) => {
                // A copy rather than one buffer shared: each shipper then hands back its own.
                let mut copy = self.spare.take();
                copy.push_str(&text);
                stdout.send(text);
                loki.send(meta.level(), tenant, copy);
            }
            (Some(stdout), None) => stdout.send(text),
            (None, Some(loki)) => loki.send(meta.level(), tenant, text),
            (None, None) => {}
        }
    }
}
