//! Events on a real Kafka-protocol broker (tansu): each read back with its key, headers and value.

use std::{collections::BTreeMap, time::Duration};

use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    consumer::{Consumer, StreamConsumer},
    message::Headers,
};
use serde_json::{Value, json};

use crate::{
    support::kafka_broker::Tansu,
    support::{Engine, spawn_with, today, unique},
};

#[tokio::test]
async fn events_reach_kafka_with_their_key_headers_and_value() {
    let broker = Tansu::start().await;
    let topics = ["insurance.policy", "insurance.payment", "insurance.claim"];
    for topic in topics {
        broker.create_topic(topic);
    }
    let address = broker.address();
    let flags = ["--event-publisher", "kafka", "--kafka-brokers", &address];
    let app = spawn_with(Engine::Sqlite, &flags).await;
    let t = app.tenant().await;
    let policy = t.active_policy().await;
    let id = policy["id"].as_str().unwrap().to_owned();
    let payment = t
        .post(
            "/v1/payments",
            json!({"policy_id": id, "amount_minor": 100, "currency": "EUR", "method": "card"}),
        )
        .await
        .id();
    let claim = t
        .post(
            "/v1/claims",
            json!({"policy_id": id, "incident_date": today().to_string(), "description": "Hail", "amount_claimed_minor": 50}),
        )
        .await
        .id();
    t.post(
        &format!("/v1/claims/{claim}/status"),
        json!({"status": "in_review"}),
    )
    .await
    .ok(200);
    app.settle().await;

    // Each topic's one partition from its start: no consumer group to join.
    let consumer = reading(&address, &topics.map(|topic| (topic, 0)));
    type Got = (String, String, BTreeMap<String, String>, Value, i64);
    let mut got: BTreeMap<String, Got> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while got.len() < 5 {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .expect("five events within 30 s")
            .expect("a message");
        let headers: BTreeMap<String, String> = message
            .headers()
            .map(|h| {
                h.iter()
                    .filter_map(|h| {
                        Some((h.key.to_owned(), String::from_utf8(h.value?.to_vec()).ok()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let key = String::from_utf8(message.key().unwrap_or_default().to_vec()).unwrap();
        let value: Value = serde_json::from_slice(message.payload().unwrap_or_default()).unwrap();
        got.insert(
            headers["event_type"].clone(),
            (
                message.topic().to_owned(),
                key,
                headers,
                value,
                message.timestamp().to_millis().unwrap_or_default(),
            ),
        );
    }
    let expected = [
        ("PolicyBound", "insurance.policy", &id),
        ("PolicyActivated", "insurance.policy", &id),
        ("PaymentReceived", "insurance.payment", &payment),
        ("ClaimOpened", "insurance.claim", &claim),
        ("ClaimStatusChanged", "insurance.claim", &claim),
    ];
    for (kind, topic, aggregate) in expected {
        let (got_topic, key, headers, value, record_ms) = &got[kind];
        assert_eq!(got_topic, topic, "{kind}");
        assert_eq!(key, aggregate, "{kind}: keyed by its aggregate");
        assert_eq!(headers["tenant_id"], t.slug, "{kind}");
        assert_eq!(
            headers["event_id"],
            value["event_id"].as_str().unwrap(),
            "{kind}"
        );
        // The three times agree: header (s), record (ms), value (RFC 3339, ms).
        let occurred = chrono::DateTime::parse_from_rfc3339(value["timestamp"].as_str().unwrap())
            .expect("RFC 3339")
            .timestamp_millis();
        assert_eq!(
            headers["timestamp"],
            (occurred / 1000).to_string(),
            "{kind}"
        );
        assert_eq!(*record_ms, occurred, "{kind}: the record's own timestamp");
        assert_eq!(value["event_type"], kind);
        assert_eq!(value["tenant_id"], t.slug.as_str());
        assert_eq!(value["aggregate_id"], aggregate.as_str());
    }
    assert_eq!(got["PolicyBound"].3["data"]["status"], "bound");
    assert_eq!(
        got["PolicyBound"].3["data"]["policy_number"],
        policy["number"]
    );
}

/// A consumer of `partitions` (topic, partition) from their start, assigned: no group to join.
fn reading(address: &str, partitions: &[(&str, i32)]) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("group.id", format!("test-{}", unique()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for (topic, partition) in partitions {
        list.add_partition_offset(topic, *partition, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&list).expect("assign");
    consumer
}

/// Over a topic of 3 partitions, each aggregate's events share one partition and arrive there in
/// the order they happened (the key is the aggregate id), while the aggregates spread out.
#[tokio::test(flavor = "multi_thread")]
async fn each_aggregates_events_keep_their_order_over_three_partitions() {
    let broker = Tansu::start().await;
    for topic in ["insurance.policy", "insurance.payment"] {
        broker.create_topic(topic);
    }
    broker.create_topic_with("insurance.claim", 3);
    let address = broker.address();
    let flags = ["--event-publisher", "kafka", "--kafka-brokers", &address];
    let app = spawn_with(Engine::Sqlite, &flags).await;
    let t = app.tenant().await;
    let policy = t.active_policy().await;
    let id = policy["id"].as_str().unwrap().to_owned();
    let mut claims = Vec::new();
    for _ in 0..12 {
        let claim = t
            .post(
                "/v1/claims",
                json!({"policy_id": id, "incident_date": today().to_string(), "description": "Hail", "amount_claimed_minor": 50}),
            )
            .await
            .id();
        claims.push(claim);
    }
    let steps = ["in_review", "rejected", "closed"];
    for step in steps {
        for claim in &claims {
            t.post(
                &format!("/v1/claims/{claim}/status"),
                json!({"status": step}),
            )
            .await
            .ok(200);
        }
    }
    app.settle().await;

    let consumer = reading(&address, &[0, 1, 2].map(|p| ("insurance.claim", p)));
    // Per claim: the partitions its messages came from, and their statuses in arrival order.
    let mut seen: BTreeMap<String, (Vec<i32>, Vec<String>)> = BTreeMap::new();
    let wanted = claims.len() * (steps.len() + 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for _ in 0..wanted {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .expect("every claim event within 60 s")
            .expect("a message");
        let key = String::from_utf8(message.key().unwrap_or_default().to_vec()).unwrap();
        let value: Value = serde_json::from_slice(message.payload().unwrap_or_default()).unwrap();
        let entry = seen.entry(key).or_default();
        entry.0.push(message.partition());
        entry.1.push(
            value["data"]["status"]
                .as_str()
                .unwrap_or("open")
                .to_owned(),
        );
    }
    let mut used = std::collections::BTreeSet::new();
    for claim in &claims {
        let (parts, statuses) = &seen[claim];
        assert!(
            parts.windows(2).all(|w| w[0] == w[1]),
            "{claim}: one partition, got {parts:?}"
        );
        used.insert(parts[0]);
        assert_eq!(
            statuses,
            &["open", "in_review", "rejected", "closed"],
            "{claim}"
        );
    }
    assert!(used.len() > 1, "12 claims all on one partition: {used:?}");
}
