//! The insurance domain's channels (the seed's `PolicyBound::broadcastOn`): `tenant.{slug}` and
//! `policy.{id}`, private (`private-` on the wire, as Laravel's PrivateChannel), and which of its
//! events go on them with what payload. Registered with the platform's broadcasting as
//! `InsuranceChannels`; who may join one is `api::broadcasting`'s to say.

use serde_json::{Value, json};

use crate::{
    domain::scalars::Id,
    platform::broadcast::channels::{Channels, MAX_NAME},
    platform::outbox::Event,
};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Every broadcast of a tenant (the slug, as `tenants list` shows it).
    Tenant(String),
    /// The broadcasts about one policy.
    Policy(String),
}

impl Channel {
    /// Reads a wire name, `private-tenant.acme` or `private-policy.<id>`; `None` for anything
    /// else (including public and presence channels, which this service has none of). A policy
    /// id is a UUID in either case, kept lower-case as every id is: broadcasts go to the
    /// lower-case name, so a client that wrote the id in capitals still hears them.
    pub fn parse(wire: &str) -> Option<Channel> {
        if wire.len() > MAX_NAME {
            return None;
        }
        let name = wire.strip_prefix("private-")?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if let Some(slug) = name.strip_prefix("tenant.") {
            return ok(slug).then(|| Channel::Tenant(slug.to_owned()));
        }
        let id: Id = name.strip_prefix("policy.")?.parse().ok()?;
        Some(Channel::Policy(id.into_string()))
    }

    /// The wire name.
    pub fn wire(&self) -> String {
        match self {
            Channel::Tenant(slug) => format!("private-tenant.{slug}"),
            Channel::Policy(id) => format!("private-policy.{id}"),
        }
    }
}

/// The insurance channels, as the platform's broadcasting sees them.
pub struct InsuranceChannels;

impl Channels for InsuranceChannels {
    fn canonical(&self, name: &str) -> Option<String> {
        Channel::parse(name).map(|c| c.wire())
    }

    fn of(&self, event: &Event, tenant: &str) -> Option<(Vec<String>, Value)> {
        let (channels, payload) = of(event, tenant)?;
        Some((channels.iter().map(Channel::wire).collect(), payload))
    }

    fn which(&self) -> &'static str {
        "only private-tenant.* and private-policy.*"
    }
}

/// The broadcast of a domain event: its name, the channels it goes on, and its payload (the
/// seed's PolicyBound: `policy_id`, `policy_number`, `status`, `timestamp`). Events that are not
/// broadcast (PolicyExpired, ClaimOpened) give `None`.
fn of(event: &Event, tenant: &str) -> Option<(Vec<Channel>, Value)> {
    let data = &event.payload;
    let policy_id = data["policy_id"].as_str()?.to_owned();
    let timestamp = event.timestamp();
    let payload = match event.event_type.as_str() {
        "PolicyBound" | "PolicyActivated" | "PolicyCancelled" => json!({
            "policy_id": policy_id,
            "policy_number": data["policy_number"],
            "status": data["status"],
            "timestamp": timestamp,
        }),
        "PaymentReceived" => json!({
            "policy_id": policy_id,
            "payment_id": data["payment"]["id"],
            "amount_minor": data["payment"]["amount_minor"],
            "currency": data["payment"]["currency"],
            "timestamp": timestamp,
        }),
        "ClaimStatusChanged" => json!({
            "policy_id": policy_id,
            "claim_id": data["claim"]["id"],
            "status": data["status"],
            "timestamp": timestamp,
        }),
        _ => return None,
    };
    Some((
        vec![
            Channel::Tenant(tenant.to_owned()),
            Channel::Policy(policy_id),
        ],
        payload,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_private_channels_parse() {
        assert_eq!(
            Channel::parse("private-tenant.acme"),
            Some(Channel::Tenant("acme".into()))
        );
        let id = "0192f4a0-7b8e-7c3d-9a4f-1b2c3d4e5f60";
        let policy = Some(Channel::Policy(id.into()));
        assert_eq!(Channel::parse(&format!("private-policy.{id}")), policy);
        let shouted = format!("private-policy.{}", id.to_uppercase());
        assert_eq!(Channel::parse(&shouted), policy, "ids are kept lower-case");
        assert_eq!(
            policy.map(|c| c.wire()),
            Some(format!("private-policy.{id}"))
        );
        for bad in [
            "tenant.acme",
            "presence-tenant.acme",
            "private-tenant.",
            "private-tenant.a b",
            "private-claim.x",
            "private-tenant.acme.x",
            "private-policy.0199-ab",
        ] {
            assert_eq!(Channel::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Channel::parse(&format!("private-tenant.{}", "a".repeat(200))),
            None
        );
    }
}
