//! What reached the broker, for the cluster script (`loadtests/cluster/run.sh`): reads every
//! partition of the given topics from its start, without a consumer group, until nothing has
//! arrived for IDLE seconds, and prints each message's `event_id` header, one a line, so the
//! script can compare them with the outboxes: every event once, none twice, none unknown.
//! A message without the header is printed as `-` (and fails the comparison).
//!
//! `cargo run --release --example kafka_events -- 127.0.0.1:9092 insurance.policy,insurance.claim 5`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::Write,
    time::{Duration, Instant},
};

use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    message::Headers,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(brokers), Some(topics)) = (args.next(), args.next()) else {
        return Err("usage: kafka_events BROKERS TOPIC[,TOPIC…] [IDLE_SECONDS]".into());
    };
    let idle = Duration::from_secs(args.next().map_or(Ok(5), |s| s.parse())?);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "policy-service-cluster-check")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut partitions = TopicPartitionList::new();
    for topic in topics.split(',') {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        for t in metadata.topics() {
            for p in t.partitions() {
                partitions.add_partition_offset(t.name(), p.id(), Offset::Beginning)?;
            }
        }
    }
    consumer.assign(&partitions)?;
    let mut out = std::io::stdout().lock();
    let mut last = Instant::now();
    while last.elapsed() < idle {
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        last = Instant::now();
        let id = message
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == "event_id"))
            .and_then(|h| h.value)
            .map(String::from_utf8_lossy);
        writeln!(out, "{}", id.as_deref().unwrap_or("-"))?;
    }
    Ok(())
}
