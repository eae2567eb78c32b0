//! The insurance domain's events (the outbox carries them to the EventPublisher): one per
//! change a consumer cares about, named as the seed names them, carrying the record as the API
//! shows it, as the seed's PolicyBound does.

use poem_openapi::types::ToJSON;
use serde_json::json;

use super::{
    claim::Claim,
    payment::Payment,
    policy::{Policy, PolicyStatus},
};
use crate::platform::outbox::Event;

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
