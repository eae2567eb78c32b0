//! Kafka in production form. tansu (the broker the suite runs) speaks Kafka in plaintext here
//! (its TLS listener did not handshake in 0.6), so a TLS front the test runs terminates TLS in
//! front of it, as a TLS proxy in front of a broker would, and tansu advertises the front's
//! address: every connection the producer opens is TLS, checked against the test's CA.
//!
//! - Over SSL with the CA (`ssl.ca.location` in KAFKA_PROPERTIES_FILE), events arrive.
//! - With another CA, nothing is sent, and the service says why at error level, once.
//! - SASL_SSL with SCRAM-SHA-512 against tansu with authentication on: the SCRAM exchange runs
//!   over TLS and tansu, which holds no users (it cannot be given one while it asks for
//!   authentication, in memory), refuses it: the refusal is the error line. The password never
//!   appears in the output.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::Stdio,
    sync::mpsc,
    time::{Duration, Instant},
};

use crate::support::{
    Engine, PATIENCE, certs, free_port, kafka_broker::Tansu, spawn_with, tls_front, unique,
};
use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    consumer::{Consumer, StreamConsumer},
};

/// tansu behind a TLS front with `dir`'s certificate; the front's `localhost:port`.
async fn broker_behind_tls(dir: &Path, extra: &[&str]) -> (Tansu, tls_front::TlsFront, String) {
    let port = free_port();
    let front = tls_front::start(dir, ([127, 0, 0, 1], port).into(), None).await;
    let advertised = format!("localhost:{}", front.port);
    let tansu = Tansu::start_with(port, &advertised, extra).await;
    (tansu, front, advertised)
}

/// A properties file for TLS to the front: `ca` trusted, IPv4 (the front listens on 127.0.0.1).
fn properties(dir: &Path, name: &str, lines: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("broker.address.family=v4\n{lines}")).expect("properties");
    path.display().to_string()
}

#[tokio::test]
async fn events_reach_kafka_over_tls_checked_against_the_ca() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = certs::authority(dir.path(), "ca");
    certs::server(dir.path());
    let (broker, front, address) = broker_behind_tls(dir.path(), &[]).await;
    broker.create_topic("insurance.policy");
    let file = properties(
        dir.path(),
        "client.properties",
        &format!("security.protocol=SSL\nssl.ca.location={}\n", ca.display()),
    );
    let flags = [
        "--event-publisher",
        "kafka",
        "--kafka-brokers",
        &address,
        "--kafka-properties-file",
        &file,
    ];
    let app = spawn_with(Engine::Sqlite, &flags).await;
    let t = app.tenant().await;
    let policy = t.active_policy().await;
    app.settle().await;

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &address)
        .set("broker.address.family", "v4")
        .set("security.protocol", "SSL")
        .set("ssl.ca.location", ca.display().to_string())
        .set("group.id", format!("test-{}", unique()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset("insurance.policy", 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&partitions).expect("assign");
    let message = tokio::time::timeout(PATIENCE, consumer.recv())
        .await
        .expect("an event within the patience")
        .expect("a message");
    assert_eq!(message.key(), policy["id"].as_str().map(str::as_bytes));
    assert!(front.seen().len() > 100, "the producer went through TLS");
}

/// Starts `policy-service serve` with `extra`, and returns the first stderr line that says
/// Kafka is failing (waiting at most the patience), with everything it printed until then.
fn kafka_failure(app: &crate::support::TestApp, extra: &[&str]) -> (String, String) {
    let mut child = app
        .process("serve", free_port(), extra)
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("policy-service starts");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + PATIENCE;
    let mut printed = String::new();
    let found = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                printed.push_str(&line);
                printed.push('\n');
                if line.contains("kafka is failing") {
                    break line;
                }
            }
            Err(_) if Instant::now() > deadline => break String::new(),
            Err(_) => {}
        }
    };
    child.kill().ok();
    child.wait().ok();
    // What it printed in the next moments too: the line must not repeat per retry.
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
        printed.push_str(&line);
        printed.push('\n');
    }
    (found, printed)
}

// Multi-threaded: the test waits on the process's output while the TLS fronts serve it.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_ca_or_a_refused_scram_login_is_one_error_line_naming_kafka() {
    let dir = tempfile::tempdir().expect("dir");
    certs::authority(dir.path(), "ca");
    certs::server(dir.path());
    let other = tempfile::tempdir().expect("dir");
    let wrong = certs::authority(other.path(), "other");
    let (_broker, _front, address) = broker_behind_tls(dir.path(), &[]).await;
    let app = spawn_with(Engine::Sqlite, &[]).await;

    let file = properties(
        dir.path(),
        "wrong.properties",
        &format!(
            "security.protocol=SSL\nssl.ca.location={}\n",
            wrong.display()
        ),
    );
    let kafka = ["--event-publisher", "kafka", "--kafka-brokers", &address];
    let mut extra = kafka.to_vec();
    extra.extend(["--kafka-properties-file", &file]);
    let (line, printed) = kafka_failure(&app, &extra);
    assert!(line.contains("\"level\":\"ERROR\""), "{printed}");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    assert_eq!(printed.matches("kafka is failing").count(), 1, "{printed}");

    let ca = dir.path().join("ca.pem");
    let (_scram_broker, _scram_front, scram_address) =
        broker_behind_tls(dir.path(), &["--authentication"]).await;
    let file = properties(
        dir.path(),
        "scram.properties",
        &format!(
            "security.protocol=SASL_SSL\nssl.ca.location={}\nsasl.mechanisms=SCRAM-SHA-512\n\
             sasl.username=policy-service\n",
            ca.display()
        ),
    );
    let password = "KAFKA_SASL_PASSWORD=hunter2-kafka";
    let extra = [
        "--event-publisher",
        "kafka",
        "--kafka-brokers",
        &scram_address,
        "--kafka-properties-file",
        &file,
        password,
    ];
    let (line, printed) = kafka_failure(&app, &extra);
    assert!(line.contains("\"level\":\"ERROR\""), "{printed}");
    assert!(
        line.contains("SASL") || line.contains("uthenticat"),
        "{line}"
    );
    assert!(
        !printed.contains("hunter2-kafka"),
        "the password was printed"
    );
}
