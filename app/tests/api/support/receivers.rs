//! Receivers that speak the real wire protocols, decoded with the real protocol crates:
//! OTLP/HTTP (protobuf `ExportTraceServiceRequest`, opentelemetry-proto) and Loki's push API
//! (snappy-compressed protobuf `PushRequest`, loki-api). Each listens on a free loopback port.
//! The Loki receiver keeps each push's headers, and can be told to refuse pushes first (a Loki
//! shedding load) or always (a Loki that is down).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, common::v1::any_value::Value as AnyValue,
    trace::v1::Span,
};
use poem::{
    EndpointExt, Route, Server, handler,
    listener::{Acceptor, Listener, TcpListener},
    post,
    web::Data,
};

#[derive(Default, Clone)]
pub struct Received {
    pub spans: Arc<Mutex<Vec<Span>>>,
    /// (labels, line) of every Loki entry.
    pub lines: Arc<Mutex<Vec<(String, String)>>>,
    /// Each Loki push's headers, refused ones included.
    pub pushes: Arc<Mutex<Vec<poem::http::HeaderMap>>>,
    /// Statuses to answer the next Loki pushes with, in order; then 204, or `always`.
    pub refusals: Arc<Mutex<VecDeque<u16>>>,
    pub always: Option<u16>,
}

impl Received {
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
    pub fn lines(&self) -> Vec<(String, String)> {
        self.lines.lock().unwrap().clone()
    }
    pub fn pushes(&self) -> Vec<poem::http::HeaderMap> {
        self.pushes.lock().unwrap().clone()
    }
    /// A Loki that answers `statuses` to the first pushes, then takes them.
    pub fn refusing_first(statuses: &[u16]) -> Received {
        let received = Received::default();
        received.refusals.lock().unwrap().extend(statuses);
        received
    }
    /// A Loki that answers every push with `status`.
    pub fn always(status: u16) -> Received {
        Received {
            always: Some(status),
            ..Received::default()
        }
    }
}

pub fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.clone()),
            AnyValue::IntValue(i) => Some(i.to_string()),
            other => Some(format!("{other:?}")),
        })
}

#[handler]
async fn traces(body: Vec<u8>, received: Data<&Received>) -> &'static str {
    let request = <ExportTraceServiceRequest as prost::Message>::decode(body.as_slice())
        .expect("OTLP protobuf");
    let mut spans = received.spans.lock().unwrap();
    for resource in request.resource_spans {
        for scope in resource.scope_spans {
            spans.extend(scope.spans);
        }
    }
    ""
}

#[handler]
async fn loki(
    headers: &poem::http::HeaderMap,
    body: Vec<u8>,
    received: Data<&Received>,
) -> poem::http::StatusCode {
    received.pushes.lock().unwrap().push(headers.clone());
    let refused = received
        .refusals
        .lock()
        .unwrap()
        .pop_front()
        .or(received.always);
    if let Some(status) = refused {
        return poem::http::StatusCode::from_u16(status).expect("a status");
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .expect("snappy");
    let push = <loki_api::logproto::PushRequest as prost_013::Message>::decode(raw.as_slice())
        .expect("Loki protobuf");
    let mut lines = received.lines.lock().unwrap();
    for stream in push.streams {
        for entry in stream.entries {
            lines.push((stream.labels.clone(), entry.line));
        }
    }
    poem::http::StatusCode::NO_CONTENT
}

/// Starts both receivers; returns their base URL.
pub async fn start(received: Received) -> String {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let port = acceptor.local_addr()[0]
        .as_socket_addr()
        .expect("tcp")
        .port();
    let app = Route::new()
        .at("/v1/traces", post(traces))
        .at("/loki/api/v1/push", post(loki))
        .data(received);
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    format!("http://127.0.0.1:{port}")
}
