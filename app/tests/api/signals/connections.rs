//! Telemetry's production connections, configured as an operator would (flags and secrets
//! through the service's own parser) against real TLS on loopback: the OTLP export over HTTPS
//! with a header and gzip reaches a real collector (rotel, behind a TLS front), and Loki's
//! pushes carry basic auth and `X-Scope-OrgID` over TLS, survive a Loki that sheds load, and are
//! counted as dropped when Loki stays down.

use std::{net::SocketAddr, path::Path, time::Duration};

use base64::Engine;
use policy_service::cli::Cli;

use crate::signals::real::{collector, until};
use crate::support::{certs, receivers, tls_front};

/// The telemetry configuration `args` and `secrets` give, parsed as the service parses them.
fn configured(args: &[&str], secrets: &[(&str, &str)]) -> telemetry::TelemetryConfig {
    let secrets: Vec<(String, String)> = secrets
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = move |name: &str| {
        secrets
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let argv = ["policy-service", "serve"].iter().chain(args);
    let cli = Cli::try_parse_args_with(argv, &lookup).unwrap_or_else(|e| panic!("{e}"));
    let mut config = cli
        .config
        .platform
        .telemetry()
        .expect("telemetry configuration");
    config.log_format = telemetry::LogFormat::Json;
    config
}

/// A CA and a `localhost` certificate signed by it, in `dir`.
fn tls_dir(dir: &Path) -> String {
    let ca = certs::authority(dir, "ca");
    certs::server(dir);
    ca.display().to_string()
}

fn address(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("an address")
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_reach_a_real_collector_over_https_with_a_header_and_gzip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = tls_dir(dir.path());
    let (_rotel, otlp_port, rotel_log) = collector(dir.path()).await;
    let front = tls_front::start(dir.path(), ([127, 0, 0, 1], otlp_port).into(), None).await;
    let endpoint = format!("https://localhost:{}", front.port);
    let config = configured(
        &[
            "--otlp-endpoint",
            &endpoint,
            "--otlp-compression",
            "gzip",
            "--otlp-certificate",
            &ca,
        ],
        &[("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=key%3Done")],
    );
    assert!(
        !format!("{config:?}").contains("key=one"),
        "the header's value in Debug"
    );
    // SAFETY: set before any other thread of this test process reads the environment.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100")
    };
    let telemetry = telemetry::init(&config).expect("telemetry installs");
    tracing::info_span!("tls-export-probe").in_scope(|| tracing::info!("inside"));

    until("the collector receives the span", async || {
        let seen = std::fs::read_to_string(&rotel_log).map_err(|e| e.to_string())?;
        seen.contains("tls-export-probe")
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    let wire = front.seen().to_ascii_lowercase();
    assert!(wire.contains("post /v1/traces"), "{wire:.300}");
    assert!(wire.contains("x-api-key: key=one"), "{wire:.300}");
    assert!(wire.contains("content-encoding: gzip"), "{wire:.300}");
    telemetry.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn loki_over_tls_gets_credentials_and_its_tenant_and_loses_nothing_to_429s() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = tls_dir(dir.path());
    let received = receivers::Received::refusing_first(&[429, 503]);
    let loki = receivers::start(received.clone()).await;
    let front = tls_front::start(dir.path(), address(&loki), None).await;
    let url = format!("https://localhost:{}", front.port);
    let config = configured(
        &[
            "--loki-url",
            &url,
            "--loki-username",
            "instance-7",
            "--loki-tenant-id",
            "acme",
            "--loki-tls-ca-file",
            &ca,
        ],
        &[("LOKI_PASSWORD", "hunter2-loki")],
    );
    assert!(!format!("{config:?}").contains("hunter2"));
    let telemetry = telemetry::init(&config).expect("telemetry installs");
    for n in 0..3 {
        tracing::info!("shipped line {n}");
    }

    until("Loki takes every line after refusing twice", async || {
        let lines = received.lines();
        let all = (0..3).all(|n| {
            let line = format!("shipped line {n}");
            lines.iter().any(|(_, l)| l.contains(&line))
        });
        all.then_some(()).ok_or_else(|| format!("{lines:?}"))
    })
    .await;
    let pushes = received.pushes();
    assert!(pushes.len() >= 3, "two refusals, then a push: {pushes:?}");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("instance-7:hunter2-loki")
    );
    for push in &pushes {
        assert_eq!(
            push.get("authorization").map(|v| v.as_bytes()),
            Some(basic.as_bytes())
        );
        assert_eq!(
            push.get("x-scope-orgid").map(|v| v.as_bytes()),
            Some(&b"acme"[..])
        );
    }
    telemetry.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loki_that_stays_down_has_its_lines_counted_as_dropped() {
    let received = receivers::Received::always(500);
    let loki = receivers::start(received.clone()).await;
    let config = configured(&["--loki-url", &loki, "--loki-tenant-id", "acme"], &[]);
    let telemetry = telemetry::init(&config).expect("telemetry installs");
    tracing::info!("a line Loki never takes");

    // Five tries, 0.5 + 1 + 2 + 4 s apart, then the batch is dropped and counted.
    until("the refused lines are counted", async || {
        let text = telemetry::metrics::render(false);
        let dropped = super::dropped(&text, "logs");
        (dropped >= 1.0)
            .then_some(())
            .ok_or_else(|| format!("{dropped} dropped"))
    })
    .await;
    assert!(
        received.pushes().len() >= 5,
        "{} pushes",
        received.pushes().len()
    );
    assert!(received.lines().is_empty());
    telemetry.shutdown(Duration::from_secs(1)).await;
}
