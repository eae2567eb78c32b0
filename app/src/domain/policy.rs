//! A policy: a bound quote. Its life: bound → active → cancelled | expired (bound → cancelled too).

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{payment::Payment, quote::Coverage, scalars::Date};
use crate::platform::error::{Error, Result};

/// Where a policy is in its life: bound → active → cancelled | expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum PolicyStatus {
    Bound,
    Active,
    Cancelled,
    Expired,
}

impl PolicyStatus {
    pub const ALL: &[PolicyStatus] = &[
        PolicyStatus::Bound,
        PolicyStatus::Active,
        PolicyStatus::Cancelled,
        PolicyStatus::Expired,
    ];

    /// Payments are taken while the policy is in force or about to be.
    pub const PAYABLE: &[PolicyStatus] = &[PolicyStatus::Bound, PolicyStatus::Active];

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyStatus::Bound => "bound",
            PolicyStatus::Active => "active",
            PolicyStatus::Cancelled => "cancelled",
            PolicyStatus::Expired => "expired",
        }
    }

    pub fn parse_stored(s: &str) -> Result<PolicyStatus> {
        Ok(match s {
            "bound" => PolicyStatus::Bound,
            "active" => PolicyStatus::Active,
            "cancelled" => PolicyStatus::Cancelled,
            "expired" => PolicyStatus::Expired,
            other => return Err(Error::Internal(format!("stored policy status `{other}`"))),
        })
    }

    /// The states a policy may move to `to` from.
    pub fn sources_of(to: PolicyStatus) -> &'static [PolicyStatus] {
        match to {
            PolicyStatus::Bound => &[],
            PolicyStatus::Active => &[PolicyStatus::Bound],
            PolicyStatus::Cancelled => &[PolicyStatus::Bound, PolicyStatus::Active],
            PolicyStatus::Expired => &[PolicyStatus::Active],
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, PolicyStatus::Bound | PolicyStatus::Active)
    }
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Policy {
    /// Record id (UUID v7).
    pub id: String,
    /// Human-readable number, unique within the tenant, e.g. `POL-7K2M9Q4XWD`.
    pub number: String,
    /// The quote it was bound from.
    pub quote_id: String,
    /// The insured it covers.
    pub insured_id: String,
    pub status: PolicyStatus,
    /// ISO 4217 code of its amounts.
    #[oai(validator(pattern = "^[A-Z]{3}$"))]
    pub currency: String,
    /// Premium for the term, in minor units.
    #[oai(validator(minimum(value = "1"), maximum(value = "20000000000000")))]
    pub premium_minor: i64,
    /// First day of cover.
    pub effective_date: Date,
    /// Last day of cover.
    pub expiry_date: Date,
    /// Free text.
    pub notes: Option<String>,
    /// Why it was cancelled.
    pub cancellation_reason: Option<String>,
    /// When the quote was bound.
    pub bound_at: DateTime<Utc>,
    /// When it became active.
    pub activated_at: Option<DateTime<Utc>>,
    /// When it was cancelled or expired.
    pub ended_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The insured as shown inside an active-policy listing.
#[derive(Debug, Clone, Object)]
pub struct InsuredSummary {
    /// The insured's id.
    pub id: String,
    /// The insured's name.
    pub full_name: String,
    /// The insured's e-mail.
    pub email: String,
}

/// An active policy with what a dashboard shows next to it (the seed's PolicyRepository).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ActivePolicy {
    pub policy: Policy,
    pub insured: InsuredSummary,
    /// The coverages of the quote it was bound from.
    pub coverages: Vec<Coverage>,
    pub last_payment: Option<Payment>,
    /// Claims opened on it, in any status.
    #[oai(validator(minimum(value = "0")))]
    pub claims_count: i64,
}

/// A checked change to a policy (PATCH); `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct PolicyChanges {
    pub expiry_date: Option<Date>,
    pub notes: Option<String>,
}

/// `POL-` and ten characters of Crockford base32: no I, L, O or U to misread on the phone.
pub fn new_number() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::rng();
    let tail: String = (0..10)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("POL-{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_open_policies_take_payments() {
        assert!(PolicyStatus::PAYABLE.contains(&PolicyStatus::Bound));
        assert!(!PolicyStatus::PAYABLE.contains(&PolicyStatus::Cancelled));
        assert!(!PolicyStatus::PAYABLE.contains(&PolicyStatus::Expired));
    }

    #[test]
    fn a_policy_expires_only_when_active() {
        assert_eq!(
            PolicyStatus::sources_of(PolicyStatus::Expired),
            &[PolicyStatus::Active]
        );
    }

    #[test]
    fn numbers_have_the_documented_shape() {
        let n = new_number();
        assert_eq!(n.len(), 14);
        assert!(n.starts_with("POL-"));
    }
}
