//! An outbound call made inside a request's span carries that trace to the next service in
//! both header formats, under a client span of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use opentelemetry::trace::TraceContextExt;
use poem::{
    Route, Server, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::Json,
};
use telemetry::{LogFormat, TelemetryConfig};
use tracing::Instrument;

#[handler]
fn echo(req: &poem::Request) -> Json<HashMap<String, String>> {
    Json(
        req.headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect(),
    )
}

#[tokio::test]
async fn outbound_calls_carry_the_trace_in_w3c_and_b3_headers() {
    let _telemetry = telemetry::init(&TelemetryConfig {
        service_name: "outbound-test".into(),
        service_version: "test".into(),
        service_revision: "unknown".into(),
        environment: "test".into(),
        namespace: None,
        log_format: LogFormat::Json,
        log_filter: "warn".into(),
        logs_to_stderr: false,
        loki: None,
        otlp: None,
        log_queue: 10,
    })
    .expect("telemetry installs");
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let port = acceptor.local_addr()[0]
        .as_socket_addr()
        .expect("tcp")
        .port();
    tokio::spawn(Server::new_with_acceptor(acceptor).run(Route::new().at("/echo", echo)));

    let parent = tracing::info_span!("request");
    let parent_context = telemetry::propagation::context_of(&parent)
        .span()
        .span_context()
        .clone();
    let client = reqwest::Client::new();
    let request = client
        .get(format!("http://127.0.0.1:{port}/echo?token=secret"))
        .build()
        .expect("request");
    let echoed: HashMap<String, String> = telemetry::outbound::send(&client, request)
        .instrument(parent)
        .await
        .expect("sent")
        .json()
        .await
        .expect("echo");

    let trace = parent_context.trace_id().to_string();
    let traceparent = &echoed["traceparent"];
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1], trace, "same trace");
    let client_span = parts[2];
    assert_ne!(
        client_span,
        parent_context.span_id().to_string(),
        "the call is a client span of its own under the request's"
    );
    assert_eq!(parts[3], "01", "sampled");
    assert_eq!(echoed["x-b3-traceid"], trace);
    assert_eq!(echoed["x-b3-spanid"], client_span);
    assert_eq!(echoed["x-b3-sampled"], "1");
    assert_eq!(echoed["b3"], format!("{trace}-{client_span}-1"));
}
