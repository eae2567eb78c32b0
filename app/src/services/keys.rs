//! The cache keys of the insurance records, declared beside the services that read through them:
//! each names its value, the tags that flush it and how long it lives.

use std::{sync::Arc, time::Duration};

use poem_openapi::types::{ParseFromJSON, ToJSON};
use serde_json::{Value, json};

use crate::{
    domain::{
        insured::Insured,
        policy::{ActivePolicy, Policy},
        quote::Quote,
    },
    platform::cache::{
        Memo,
        keys::{Key, Tag, memo_weight},
    },
    record_key,
    store::Page,
};

pub const POLICIES: Tag = Tag::new("tag:policies");
pub const QUOTES: Tag = Tag::new("tag:quotes");
pub const INSUREDS: Tag = Tag::new("tag:insureds");
pub const ACTIVE_POLICIES: Tag = Tag::new("tag:active-policies");

record_key!(
    /// `GET /v1/policies/{id}`.
    PolicyKey, Policy, POLICIES, "policy"
);
record_key!(
    /// `GET /v1/quotes/{id}`.
    QuoteKey, Quote, QUOTES, "quote"
);
record_key!(
    /// `GET /v1/insureds/{id}`.
    InsuredKey, Insured, INSUREDS, "insured"
);

/// The first page of `GET /v1/policies/active` at one page size: an hour, as the seed's
/// PolicyRepository remembers it, flushed by any change to a policy, a payment or a claim. Only
/// first pages have a key: a tenant has at most one per page size, whatever cursors it sends.
pub struct ActivePageKey {
    pub limit: u32,
}

impl Key for ActivePageKey {
    type Value = Arc<Memo<Page<ActivePolicy>>>;
    const TAGS: &'static [Tag] = &[ACTIVE_POLICIES, POLICIES];
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
    use crate::platform::cache::keys::MAX_TTL;

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
