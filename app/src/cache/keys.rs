//! Typed keys: each names its value type, its tags and its TTL. Names are relative to a tenant
//! (`TenantCache` prefixes them), so a key type cannot name another tenant's entry.

use std::{sync::Arc, time::Duration};

use poem_openapi::types::{ParseFromJSON, ToJSON};
use serde_json::{Value, json};

use super::Memo;
use crate::{
    domain::{
        insured::Insured,
        policy::{ActivePolicy, Policy},
        quote::Quote,
    },
    store::Page,
};

/// The longest an entry lives, jitter included: generation records outlive it (`generations`).
pub const MAX_TTL: Duration = Duration::from_secs(3960);

/// What can be flushed at once. Every entry also carries `Tenant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Tenant,
    Policies,
    Quotes,
    Insureds,
    ActivePolicies,
}

impl Tag {
    pub fn name(&self) -> &'static str {
        match self {
            Tag::Tenant => "tag:tenant",
            Tag::Policies => "tag:policies",
            Tag::Quotes => "tag:quotes",
            Tag::Insureds => "tag:insureds",
            Tag::ActivePolicies => "tag:active-policies",
        }
    }
}

pub trait Key {
    type Value: Clone + Send + Sync + 'static;
    const TAGS: &'static [Tag];
    /// Before jitter (±10%); at most `MAX_TTL` with it.
    const TTL: Duration;

    /// The name within the tenant, e.g. `policy:0192…`.
    fn name(&self) -> String;

    /// About how many bytes the value holds, for `CACHE_L1_MAX_BYTES`.
    fn weight(value: &Self::Value) -> u32;

    /// The value as stored in Redis, and back.
    fn encode(value: &Self::Value) -> Value;
    fn decode(stored: Value) -> Option<Self::Value>;
}

fn json_weight(value: &impl ToJSON) -> u32 {
    let bytes = value.to_json().map_or(0, |j| j.to_string().len());
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// A memo holds its value and, once asked, that value's JSON: about twice the JSON.
fn memo_weight(value: &impl ToJSON) -> u32 {
    json_weight(value).saturating_mul(2)
}

/// A record read by its id, for ten minutes, shared with its rendered body (`Memo`).
macro_rules! by_id {
    ($(#[$doc:meta])* $key:ident, $value:ty, $tag:expr, $prefix:literal) => {
        $(#[$doc])*
        pub struct $key<'a>(pub &'a str);

        impl Key for $key<'_> {
            type Value = Arc<Memo<$value>>;
            const TAGS: &'static [Tag] = &[$tag];
            const TTL: Duration = Duration::from_secs(600);

            fn name(&self) -> String {
                format!(concat!($prefix, ":{}"), self.0)
            }

            fn weight(value: &Self::Value) -> u32 {
                memo_weight(value.value())
            }

            fn encode(value: &Self::Value) -> Value {
                value.value().to_json().unwrap_or_default()
            }

            fn decode(stored: Value) -> Option<Self::Value> {
                <$value>::parse_from_json(Some(stored)).ok().map(Memo::new)
            }
        }
    };
}

by_id!(
    /// `GET /v1/policies/{id}`.
    PolicyKey, Policy, Tag::Policies, "policy"
);
by_id!(
    /// `GET /v1/quotes/{id}`.
    QuoteKey, Quote, Tag::Quotes, "quote"
);
by_id!(
    /// `GET /v1/insureds/{id}`.
    InsuredKey, Insured, Tag::Insureds, "insured"
);

/// The first page of `GET /v1/policies/active` at one page size: an hour, as the seed's
/// PolicyRepository remembers it, flushed by any change to a policy, a payment or a claim. Only
/// first pages have a key: a tenant has at most one per page size, whatever cursors it sends.
pub struct ActivePageKey {
    pub limit: u32,
}

impl Key for ActivePageKey {
    type Value = Arc<Memo<Page<ActivePolicy>>>;
    const TAGS: &'static [Tag] = &[Tag::ActivePolicies, Tag::Policies];
    const TTL: Duration = Duration::from_secs(3600);

    fn name(&self) -> String {
        format!("active:{}", self.limit)
    }

    fn weight(value: &Self::Value) -> u32 {
        value
            .value()
            .items
            .iter()
            .map(memo_weight)
            .fold(64, u32::saturating_add)
    }

    fn encode(value: &Self::Value) -> Value {
        let page = value.value();
        json!({ "items": page.items.to_json(), "next": page.next })
    }

    fn decode(mut stored: Value) -> Option<Self::Value> {
        let items = stored.get_mut("items")?.take();
        Some(Memo::new(Page {
            items: Vec::<ActivePolicy>::parse_from_json(Some(items)).ok()?,
            next: serde_json::from_value(stored.get_mut("next")?.take()).ok()?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_entry_outlives_the_generations() {
        for ttl in [
            PolicyKey::TTL,
            QuoteKey::TTL,
            InsuredKey::TTL,
            ActivePageKey::TTL,
        ] {
            assert!(ttl.mul_f64(1.1) <= MAX_TTL, "{ttl:?}");
        }
    }
}
