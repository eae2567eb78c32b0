//! Domain events: what a committed change tells the world (the outbox carries them to the
//! EventPublisher). Each names its aggregate, so a consumer can order by it, and carries the
//! record as the API shows it, with the tenant and the time, as the seed's PolicyBound does.

use poem_openapi::types::ToJSON;
use serde_json::{Value, json};

use super::{
    claim::Claim,
    payment::Payment,
    policy::{Policy, PolicyStatus},
    values::new_id,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// UUID v7: unique, and in creation order.
    pub id: String,
    /// `policy`, `payment` or `claim`.
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    /// `PolicyBound`, `PolicyActivated`, … (the seed's names).
    pub event_type: String,
    pub payload: Value,
    /// The W3C trace context of the request that made the change.
    pub traceparent: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
}

impl Event {
    fn new(
        aggregate_type: &'static str,
        aggregate_id: &str,
        event_type: &str,
        data: Value,
        now: i64,
    ) -> Event {
        Event {
            id: new_id(),
            aggregate_type,
            aggregate_id: aggregate_id.to_owned(),
            event_type: event_type.to_owned(),
            payload: data,
            traceparent: None,
            created_at: now,
        }
    }

    /// The policy's event for its (new) status: bound, activated, cancelled or expired.
    pub fn policy(policy: &Policy, now: i64) -> Event {
        let kind = match policy.status {
            PolicyStatus::Bound => "PolicyBound",
            PolicyStatus::Active => "PolicyActivated",
            PolicyStatus::Cancelled => "PolicyCancelled",
            PolicyStatus::Expired => "PolicyExpired",
        };
        let data = json!({
            "policy_id": policy.id,
            "policy_number": policy.number,
            "status": policy.status.as_str(),
            "policy": policy.to_json(),
        });
        Event::new("policy", &policy.id, kind, data, now)
    }

    pub fn payment(payment: &Payment, now: i64) -> Event {
        let data = json!({ "policy_id": payment.policy_id, "payment": payment.to_json() });
        Event::new("payment", &payment.id, "PaymentReceived", data, now)
    }

    /// `ClaimOpened` for a new claim, `ClaimStatusChanged` after.
    pub fn claim(claim: &Claim, opened: bool, now: i64) -> Event {
        let kind = if opened {
            "ClaimOpened"
        } else {
            "ClaimStatusChanged"
        };
        let data = json!({
            "policy_id": claim.policy_id,
            "status": claim.status.as_str(),
            "claim": claim.to_json(),
        });
        Event::new("claim", &claim.id, kind, data, now)
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
