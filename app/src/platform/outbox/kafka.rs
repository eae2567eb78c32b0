//! The seed's KafkaEventPublisher, on librdkafka (the `rdkafka` crate: the client every Kafka
//! ecosystem uses, with the idempotent producer and acks=all; it costs about 3 minutes of cold
//! build for the bundled C library). One message per event: the value is the event's JSON, the
//! key its aggregate id (so one aggregate's events share a partition and keep their order), and
//! the headers `event_id`, `event_type`, `tenant_id`, `timestamp` and the trace context of the
//! publish span (`traceparent`, `b3`, …), a child of the request that made the change.

use std::time::Duration;

use futures::future::BoxFuture;
use rdkafka::{
    ClientConfig,
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};

use super::{Event, publisher::EventPublisher};
use crate::platform::error::{Error, Result};

/// How long a publish may take, queueing and delivery included.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct KafkaPublisher {
    producer: FutureProducer,
}

impl KafkaPublisher {
    /// A producer for `brokers` (host:port, comma-separated); connects in the background.
    pub fn new(brokers: &str) -> Result<KafkaPublisher> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("client.id", "policy-service")
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set(
                "delivery.timeout.ms",
                DELIVERY_TIMEOUT.as_millis().to_string(),
            )
            .create()
            .map_err(|e| Error::Config(format!("KAFKA_BROKERS: {e}")))?;
        Ok(KafkaPublisher { producer })
    }
}

impl EventPublisher for KafkaPublisher {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        tenant: &'a str,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let value = event.message(tenant).to_string();
            let timestamp = event.timestamp();
            let mut headers = OwnedHeaders::new();
            let fixed = [
                ("event_id", event.id.as_str()),
                ("event_type", event.event_type.as_str()),
                ("tenant_id", tenant),
                ("timestamp", timestamp.as_str()),
            ];
            for (key, value) in fixed {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            for (key, value) in telemetry::propagation::current_headers() {
                headers = headers.insert(Header {
                    key: &key,
                    value: Some(&value),
                });
            }
            let record = FutureRecord::to(topic)
                .key(&event.aggregate_id)
                .payload(&value)
                .headers(headers);
            self.producer
                .send(record, DELIVERY_TIMEOUT)
                .await
                .map(|_| ())
                .map_err(|(e, _)| Error::Unavailable(format!("kafka {topic}: {e}")))
        })
    }
}
