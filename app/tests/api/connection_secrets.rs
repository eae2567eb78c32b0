//! No secret of a production connection is ever shown: every secret setting gets a value of its
//! own, and neither `--help`, nor the configuration's `Debug` output, nor what a start against
//! backends that refuse prints (at debug level, errors included) contains any of them.

use std::process::Command;

use policy_service::{cli::Cli, platform::config::secret::SECRETS};

use crate::support::free_port;

/// A distinct value for each secret, shaped as each must be (URLs, a header list).
fn values() -> Vec<(&'static str, String)> {
    let closed = free_port();
    SECRETS
        .iter()
        .map(|s| {
            let value = match s.var {
                "DATABASE_URL" => format!("mysql://svc:db-pw-0451@127.0.0.1:{closed}"),
                "REDIS_URL" => format!("redis://svc:redis-pw-0451@127.0.0.1:{closed}"),
                "OTEL_EXPORTER_OTLP_HEADERS" => "authorization=Basic%20otlp-key-0451".into(),
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS" => "x-api-key=otlp-traces-0451".into(),
                other => format!("{}-0451", other.to_ascii_lowercase()),
            };
            (s.var, value)
        })
        .collect()
}

/// The part of each value that must never be printed.
fn needles() -> Vec<String> {
    values()
        .into_iter()
        .map(|(var, value)| match var {
            "DATABASE_URL" => "db-pw-0451".to_owned(),
            "REDIS_URL" => "redis-pw-0451".to_owned(),
            "OTEL_EXPORTER_OTLP_HEADERS" => "otlp-key-0451".to_owned(),
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS" => "otlp-traces-0451".to_owned(),
            _ => value,
        })
        .collect()
}

fn assert_clean(what: &str, text: &str) {
    for needle in needles() {
        assert!(
            !text.contains(&needle),
            "{what} shows a secret ({needle}):\n{text}"
        );
    }
}

#[test]
fn help_and_debug_show_no_secret() {
    let values = values();
    let lookup = |name: &str| {
        values
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    };
    let cli = Cli::try_parse_args_with(["policy-service", "serve"], &lookup).expect("parses");
    assert_clean("Debug of the configuration", &format!("{:?}", cli.config));
    let telemetry = cli.config.platform.telemetry().expect("telemetry");
    assert_clean(
        "Debug of telemetry's configuration",
        &format!("{telemetry:?}"),
    );

    let help = Command::new(env!("CARGO_BIN_EXE_policy-service"))
        .arg("--help")
        .envs(values.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("--help");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("LOKI_PASSWORD"),
        "the secrets are named: {text}"
    );
    assert_clean("--help", &text);
}

#[test]
fn a_start_against_backends_that_refuse_prints_no_secret() {
    let dir = tempfile::tempdir().expect("dir");
    let closed = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_policy-service"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(values().iter().map(|(k, v)| (*k, v.as_str())))
        .envs([
            ("RUST_LOG", "debug"),
            ("LOKI_URL", &format!("http://127.0.0.1:{closed}")),
            ("LOKI_USERNAME", "svc"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                &format!("http://127.0.0.1:{closed}"),
            ),
            ("EVENT_PUBLISHER", "kafka"),
            ("KAFKA_BROKERS", &format!("127.0.0.1:{closed}")),
            ("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
            ("KAFKA_SASL_MECHANISMS", "SCRAM-SHA-512"),
            ("KAFKA_SASL_USERNAME", "svc"),
        ])
        // LOKI_PASSWORD and LOKI_BEARER_TOKEN together are refused: keep the password.
        .env_remove("LOKI_BEARER_TOKEN")
        .arg("serve")
        .output()
        .expect("policy-service runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "MariaDB is not there: {printed}");
    assert!(
        printed.contains("127.0.0.1"),
        "it says where it failed: {printed}"
    );
    assert_clean("the failed start", &printed);
}
