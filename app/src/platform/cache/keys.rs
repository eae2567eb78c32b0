//! Typed keys: each names its value type, its tags and its TTL. Names are relative to a tenant
//! (`TenantCache` prefixes them), so a key type cannot name another tenant's entry.

use std::time::Duration;

use poem_openapi::types::ToJSON;
use serde_json::Value;

/// The longest an entry lives, jitter included: generation records outlive it (`generations`).
pub const MAX_TTL: Duration = Duration::from_secs(3960);

/// What can be flushed at once: a name a key's type lists among its `TAGS` (a domain declares
/// its own: `Tag::new("tag:policies")`). Every entry also carries `Tag::TENANT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag(&'static str);

impl Tag {
    /// Every entry of a tenant.
    pub const TENANT: Tag = Tag("tag:tenant");

    pub const fn new(name: &'static str) -> Tag {
        Tag(name)
    }

    pub fn name(&self) -> &'static str {
        self.0
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

pub fn json_weight(value: &impl ToJSON) -> u32 {
    let bytes = value.to_json().map_or(0, |j| j.to_string().len());
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// A memo holds its value and, once asked, that value's JSON: about twice the JSON.
pub fn memo_weight(value: &impl ToJSON) -> u32 {
    json_weight(value).saturating_mul(2)
}

/// A record read by its id, for ten minutes, shared with its rendered body (`Memo`): declares
/// `$key<'a>(&'a str)`, a `Key` whose value is `Arc<Memo<$value>>`, flushed with `$tag`, named
/// `$prefix:<id>`. `$value` is a poem-openapi object (it is stored as its JSON).
#[macro_export]
macro_rules! record_key {
    ($(#[$doc:meta])* $key:ident, $value:ty, $tag:expr, $prefix:literal) => {
        $(#[$doc])*
        pub struct $key<'a>(pub &'a str);

        impl $crate::platform::cache::keys::Key for $key<'_> {
            type Value = ::std::sync::Arc<$crate::platform::cache::Memo<$value>>;
            const TAGS: &'static [$crate::platform::cache::keys::Tag] = &[$tag];
            const TTL: ::std::time::Duration = ::std::time::Duration::from_secs(600);

            fn name(&self) -> String {
                format!(concat!($prefix, ":{}"), self.0)
            }

            fn weight(value: &Self::Value) -> u32 {
                $crate::platform::cache::keys::memo_weight(value.value())
            }

            fn encode(value: &Self::Value) -> ::serde_json::Value {
                ::poem_openapi::types::ToJSON::to_json(value.value()).unwrap_or_default()
            }

            fn decode(stored: ::serde_json::Value) -> Option<Self::Value> {
                <$value as ::poem_openapi::types::ParseFromJSON>::parse_from_json(Some(stored))
                    .ok()
                    .map($crate::platform::cache::Memo::new)
            }
        }
    };
}
