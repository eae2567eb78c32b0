//! OTLP protobuf written by hand, straight into a span's own buffer.
//!
//! Why not the SDK's path: it copies every attribute into an `opentelemetry::KeyValue`, every
//! finished span into a `SpanData`, then every key and value again into opentelemetry-proto's
//! structs (a `String` each) before prost writes them out. Here a span's fields are encoded as
//! they are recorded, into one `Vec<u8>` that becomes the span's message as it is; a batch is
//! those messages behind one resource and scope header.
//!
//! What makes it simple is protobuf itself: a message's fields may come in any order, and a
//! field that is not repeated takes its last value. So `otel.name` recorded late is just
//! appended, and a status recorded twice keeps the second. The one cost is a nested message's
//! length, written before it: one byte is kept for it and the body shifted on the rare
//! occasion it needs more (`nested`). The decoding tests (`tests.rs`) read it all back with
//! opentelemetry-proto, and the suite sends it to a real collector (rotel).

use std::fmt::{self, Write as _};

use crate::protobuf::{LEN, tag, varint, varint_len};
pub(crate) use crate::protobuf::{Text, bytes, fixed32, fixed64, nested, uint};

/// Field numbers of opentelemetry-proto's `trace.v1.Span`, `Event`, `Status` and `KeyValue`.
pub(crate) mod field {
    pub const TRACE_ID: u8 = 1;
    pub const SPAN_ID: u8 = 2;
    pub const TRACE_STATE: u8 = 3;
    pub const PARENT_SPAN_ID: u8 = 4;
    pub const NAME: u8 = 5;
    pub const KIND: u8 = 6;
    pub const START: u8 = 7;
    pub const END: u8 = 8;
    pub const ATTRIBUTES: u8 = 9;
    pub const EVENTS: u8 = 11;
    pub const LINKS: u8 = 13;
    pub const STATUS: u8 = 15;
    pub const FLAGS: u8 = 16;
    pub const EVENT_TIME: u8 = 1;
    pub const EVENT_NAME: u8 = 2;
    pub const EVENT_ATTRIBUTES: u8 = 3;
    pub const LINK_ATTRIBUTES: u8 = 4;
    pub const LINK_FLAGS: u8 = 6;
}

/// `SpanKind` values.
pub(crate) mod kind {
    pub const INTERNAL: u64 = 1;
    pub const SERVER: u64 = 2;
    pub const CLIENT: u64 = 3;
    pub const PRODUCER: u64 = 4;
    pub const CONSUMER: u64 = 5;
}

/// `Status.StatusCode` values.
pub(crate) mod status {
    pub const OK: u64 = 1;
    pub const ERROR: u64 = 2;
}

/// An attribute's value: `AnyValue`'s fields.
pub(crate) enum Value<'a> {
    Str(&'a str),
    Debug(&'a dyn fmt::Debug),
    Int(i64),
    Double(f64),
    Bool(bool),
}

/// One `KeyValue` as field `field` (a span's, an event's or a link's attributes).
pub(crate) fn attribute(buf: &mut Vec<u8>, field: u8, key: &str, value: Value<'_>) {
    nested(buf, field, |kv| {
        bytes(kv, 1, key.as_bytes());
        nested(kv, 2, |any| match value {
            Value::Str(s) => bytes(any, 1, s.as_bytes()),
            Value::Debug(d) => nested(any, 1, |s| {
                write!(Text(s), "{d:?}").ok();
            }),
            Value::Int(i) => uint(any, 3, i as u64),
            Value::Double(d) => fixed64(any, 4, d.to_bits()),
            Value::Bool(b) => uint(any, 2, u64::from(b)),
        });
    });
}

/// The span's `Status`, or a part of it: protobuf merges a message field written twice, so
/// a message recorded apart from the code keeps the code.
pub(crate) fn status(buf: &mut Vec<u8>, code: Option<u64>, message: Option<&str>) {
    nested(buf, field::STATUS, |s| {
        if let Some(message) = message {
            bytes(s, 2, message.as_bytes());
        }
        if let Some(code) = code {
            uint(s, 3, code);
        }
    });
}

/// `ExportTraceServiceRequest` framing: one `ResourceSpans` (the service's resource, already
/// encoded) holding one `ScopeSpans` per scope, each the spans given, as they are.
pub(crate) fn request<'a>(
    out: &mut Vec<u8>,
    resource: &[u8],
    scopes: impl Iterator<Item = (&'a [u8], &'a [&'a [u8]])> + Clone,
) {
    let framed = |len: usize| 1 + varint_len(len as u64) + len;
    let scope_len = |scope: &[u8], spans: &[&[u8]]| {
        framed(scope.len()) + spans.iter().map(|s| framed(s.len())).sum::<usize>()
    };
    let resource_spans = framed(resource.len())
        + scopes
            .clone()
            .map(|(scope, spans)| framed(scope_len(scope, spans)))
            .sum::<usize>();
    out.clear();
    out.reserve(framed(resource_spans));
    tag(out, 1, LEN);
    varint(out, resource_spans as u64);
    bytes(out, 1, resource);
    for (scope, spans) in scopes {
        tag(out, 2, LEN);
        varint(out, scope_len(scope, spans) as u64);
        bytes(out, 1, scope);
        for span in spans {
            bytes(out, 2, span);
        }
    }
}
