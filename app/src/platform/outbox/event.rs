//! An outbox event: what a committed change tells the world. Each names its aggregate, so a
//! consumer can order by it, and carries its data, the tenant's change's trace context and the
//! time. The domain decides which events there are (`domain::event` here); the platform stores,
//! relays and publishes them without reading their data.

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// UUID v7: unique, and in creation order.
    pub id: String,
    /// What the event is about: `policy`, `order`, … (the Kafka topic's suffix).
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// `PolicyBound`, `OrderPlaced`, …
    pub event_type: String,
    pub payload: Value,
    /// The W3C trace context of the request that made the change.
    pub traceparent: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
}

impl Event {
    /// A new event (a fresh UUID v7) about `aggregate_type` `aggregate_id`, at `now`.
    pub fn new(
        aggregate_type: &str,
        aggregate_id: &str,
        event_type: &str,
        data: Value,
        now: i64,
    ) -> Event {
        Event {
            id: uuid::Uuid::now_v7().to_string(),
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            event_type: event_type.to_owned(),
            payload: data,
            traceparent: None,
            created_at: now,
        }
    }

    /// The event as published: what any publisher sends as the message's value.
    pub fn message(&self, tenant: &str) -> Value {
        json!({
            "event_id": self.id,
            "event_type": self.event_type,
            "tenant_id": tenant,
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "timestamp": self.timestamp(),
            "data": self.payload,
        })
    }

    /// When it happened, ISO 8601 (as the seed's PolicyBound says `timestamp`).
    pub fn timestamp(&self) -> String {
        chrono::DateTime::from_timestamp_millis(self.created_at)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// With the trace context of the change.
    pub fn traced(mut self, traceparent: Option<String>) -> Event {
        self.traceparent = traceparent;
        self
    }
}
