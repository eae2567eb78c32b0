//! The seed's KafkaEventPublisher, on librdkafka (the `rdkafka` crate: the client every Kafka
//! ecosystem uses, with the idempotent producer and acks=all; it costs about 3 minutes of cold
//! build for the bundled C library). One message per event: the value is the event's JSON, the
//! key its aggregate id (so one aggregate's events share a partition and keep their order), and
//! the headers `event_id`, `event_type`, `tenant_id`, `timestamp` (epoch seconds, as the seed
//! writes it) and the trace context of the publish span (`traceparent`, `b3`, …), a child of
//! the request that made the change. The record's timestamp is the event's time in ms.

use std::time::Duration;

use futures::future::BoxFuture;
use rdkafka::{
    ClientConfig, ClientContext,
    client::OAuthToken,
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};
use telemetry::episode::Episode;

use super::{Event, msk_iam::MskIam, publisher::EventPublisher};
use crate::platform::error::{Error, Result};

/// Kafka failing (a refused certificate, a refused SASL login, no broker) is an error line once
/// per episode, from librdkafka's error callback; a delivered event ends it.
static EPISODE: Episode = Episode::new("kafka");

/// librdkafka's callbacks: its errors go to the episode; an OAUTHBEARER token comes from MSK's
/// IAM signer (`msk_iam`) when KAFKA_AWS_MSK_IAM is on.
pub struct Context {
    pub msk: Option<MskIam>,
}

impl ClientContext for Context {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> std::result::Result<OAuthToken, Box<dyn std::error::Error>> {
        let Some(msk) = &self.msk else {
            return Err(
                "sasl.mechanisms=OAUTHBEARER takes its token from KAFKA_AWS_MSK_IAM=true".into(),
            );
        };
        let (token, lifetime_ms) = msk.token()?;
        Ok(OAuthToken {
            token,
            principal_name: String::new(),
            lifetime_ms,
        })
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // "All brokers are down" follows each broker's own failure (a refused certificate, a
        // refused login): the cause is that one. Told apart, the two would alternate and make
        // a line per retry.
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            return;
        }
        // librdkafka ends a reason with the time it took ("… (after 2ms in state
        // SSL_HANDSHAKE)"), which differs per retry: the cause is what comes before.
        let reason = reason.split(" (after ").next().unwrap_or(reason);
        EPISODE.failed(&format!("{error}: {reason}"));
    }
}

/// How long a publish may take, queueing and delivery included.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct KafkaPublisher {
    producer: FutureProducer<Context>,
}

impl KafkaPublisher {
    /// A producer for `brokers` (host:port, comma-separated) with `properties` (`connection`);
    /// connects in the background.
    pub fn new(
        brokers: &str,
        properties: &[(String, String)],
        context: Context,
    ) -> Result<KafkaPublisher> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("client.id", "policy-service")
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set(
                "delivery.timeout.ms",
                DELIVERY_TIMEOUT.as_millis().to_string(),
            );
        for (key, value) in properties {
            config.set(key, value);
        }
        // librdkafka names the property at fault, never its value.
        let producer = config
            .create_with_context(context)
            .map_err(|e| Error::Config(format!("Kafka's properties: {e}")))?;
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
            // The seed's header: epoch seconds (`time()`), what a consumer written against it
            // parses. The millisecond time is the record's own timestamp (CreateTime), which
            // Kafka's time index and every consumer library read, and the value's `timestamp`.
            let timestamp = (event.created_at.div_euclid(1000)).to_string();
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
                .timestamp(event.created_at)
                .headers(headers);
            let sent = self.producer.send(record, DELIVERY_TIMEOUT).await;
            match sent {
                Ok(_) => {
                    EPISODE.succeeded();
                    Ok(())
                }
                Err((e, _)) => Err(Error::Unavailable(format!("kafka {topic}: {e}"))),
            }
        })
    }
}
