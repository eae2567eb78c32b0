//! Spans made through the OpenTelemetry API (`opentelemetry::global::tracer(..)`), for code
//! that uses it rather than `tracing`: the SDK's provider keeps them, and this processor encodes
//! each finished one (`SpanData`) into the same queue as ours, under its own scope.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use opentelemetry::{Array, Context, KeyValue, Value, trace::SpanKind, trace::Status};
use opentelemetry_sdk::{
    error::{OTelSdkError, OTelSdkResult},
    trace::{Span, SpanData, SpanProcessor},
};

use super::{
    export::{Encoded, Queue},
    otlp::{self, field, kind, status},
};

#[derive(Debug)]
pub(crate) struct Bridge {
    queue: Queue,
    /// Each tracer's scope, encoded once.
    scopes: Mutex<Vec<(String, Arc<[u8]>)>>,
}

impl Bridge {
    pub fn new(queue: Queue) -> Bridge {
        Bridge {
            queue,
            scopes: Mutex::default(),
        }
    }

    fn scope(&self, span: &SpanData) -> Arc<[u8]> {
        let scope = &span.instrumentation_scope;
        let mut scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, encoded)) = scopes.iter().find(|(n, _)| n == scope.name()) {
            return encoded.clone();
        }
        let mut encoded = Vec::new();
        otlp::bytes(&mut encoded, 1, scope.name().as_bytes());
        if let Some(version) = scope.version() {
            otlp::bytes(&mut encoded, 2, version.as_bytes());
        }
        for kv in scope.attributes() {
            key_value(&mut encoded, 3, kv);
        }
        let encoded: Arc<[u8]> = encoded.into();
        // Tracer names are few; a program making them per call should not grow this forever.
        if scopes.len() < 64 {
            scopes.push((scope.name().to_owned(), encoded.clone()));
        }
        encoded
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn any_value(buf: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Bool(b) => otlp::uint(buf, 2, u64::from(*b)),
        Value::I64(i) => otlp::uint(buf, 3, *i as u64),
        Value::F64(f) => otlp::fixed64(buf, 4, f.to_bits()),
        Value::String(s) => otlp::bytes(buf, 1, s.as_str().as_bytes()),
        Value::Array(array) => otlp::nested(buf, 5, |values| {
            let mut each = |v: Value| otlp::nested(values, 1, |any| any_value(any, &v));
            match array {
                Array::Bool(v) => v.iter().for_each(|b| each(Value::Bool(*b))),
                Array::I64(v) => v.iter().for_each(|i| each(Value::I64(*i))),
                Array::F64(v) => v.iter().for_each(|f| each(Value::F64(*f))),
                Array::String(v) => v.iter().for_each(|s| each(Value::String(s.clone()))),
                _ => {}
            }
        }),
        other => otlp::bytes(buf, 1, other.to_string().as_bytes()),
    }
}

fn key_value(buf: &mut Vec<u8>, at: u8, kv: &KeyValue) {
    otlp::nested(buf, at, |b| {
        otlp::bytes(b, 1, kv.key.as_str().as_bytes());
        otlp::nested(b, 2, |any| any_value(any, &kv.value));
    });
}

/// One `SpanData` as an OTLP span.
pub(crate) fn encode(span: &SpanData) -> Vec<u8> {
    let mut b = Vec::with_capacity(256);
    let cx = &span.span_context;
    otlp::bytes(&mut b, field::TRACE_ID, &cx.trace_id().to_bytes());
    otlp::bytes(&mut b, field::SPAN_ID, &cx.span_id().to_bytes());
    let state = cx.trace_state().header();
    if !state.is_empty() {
        otlp::bytes(&mut b, field::TRACE_STATE, state.as_bytes());
    }
    if span.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        otlp::bytes(
            &mut b,
            field::PARENT_SPAN_ID,
            &span.parent_span_id.to_bytes(),
        );
    }
    otlp::bytes(&mut b, field::NAME, span.name.as_bytes());
    let k = match span.span_kind {
        SpanKind::Server => kind::SERVER,
        SpanKind::Client => kind::CLIENT,
        SpanKind::Producer => kind::PRODUCER,
        SpanKind::Consumer => kind::CONSUMER,
        SpanKind::Internal => kind::INTERNAL,
    };
    otlp::uint(&mut b, field::KIND, k);
    otlp::fixed64(&mut b, field::START, nanos(span.start_time));
    otlp::fixed64(&mut b, field::END, nanos(span.end_time));
    for kv in &span.attributes {
        key_value(&mut b, field::ATTRIBUTES, kv);
    }
    for event in span.events.iter() {
        otlp::nested(&mut b, field::EVENTS, |e| {
            otlp::fixed64(e, field::EVENT_TIME, nanos(event.timestamp));
            otlp::bytes(e, field::EVENT_NAME, event.name.as_bytes());
            for kv in &event.attributes {
                key_value(e, field::EVENT_ATTRIBUTES, kv);
            }
        });
    }
    for link in span.links.iter() {
        otlp::nested(&mut b, field::LINKS, |l| {
            let cx = &link.span_context;
            otlp::bytes(l, 1, &cx.trace_id().to_bytes());
            otlp::bytes(l, 2, &cx.span_id().to_bytes());
            for kv in &link.attributes {
                key_value(l, field::LINK_ATTRIBUTES, kv);
            }
            otlp::fixed32(
                l,
                field::LINK_FLAGS,
                u32::from(cx.trace_flags().to_u8()) | 0x100,
            );
        });
    }
    match &span.status {
        Status::Unset => {}
        Status::Ok => otlp::status(&mut b, Some(status::OK), None),
        Status::Error { description } => {
            otlp::status(&mut b, Some(status::ERROR), Some(description))
        }
    }
    let remote = if span.parent_span_is_remote {
        0x300
    } else {
        0x100
    };
    otlp::fixed32(
        &mut b,
        field::FLAGS,
        u32::from(cx.trace_flags().to_u8()) | remote,
    );
    b
}

impl SpanProcessor for Bridge {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        let scope = self.scope(&span);
        self.queue.encoded(Encoded {
            scope: Some(scope),
            span: encode(&span),
        });
    }

    /// Spans are queued as they end: flushing is the export queue's.
    fn force_flush(&self) -> OTelSdkResult {
        let within = Duration::from_secs(30);
        if self.queue.flush(within) {
            Ok(())
        } else {
            Err(OTelSdkError::Timeout(within))
        }
    }

    /// The export queue is shut down by `Traces::shutdown`, after the provider.
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// The service's `Resource` message, encoded once for every batch.
pub(crate) fn resource(resource: &opentelemetry_sdk::Resource) -> Vec<u8> {
    let mut encoded = Vec::new();
    for (key, value) in resource.iter() {
        otlp::nested(&mut encoded, 1, |b| {
            otlp::bytes(b, 1, key.as_str().as_bytes());
            otlp::nested(b, 2, |any| any_value(any, value));
        });
    }
    encoded
}
