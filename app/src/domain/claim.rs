//! A claim on a policy. Its life: open → in_review → approved | rejected → closed.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::{scalars::Date, values::Money};
use crate::platform::error::{Error, Result};

/// Where a claim is: open → in_review → approved | rejected → closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    Open,
    InReview,
    Approved,
    Rejected,
    Closed,
}

impl ClaimStatus {
    pub const ALL: &[ClaimStatus] = &[
        ClaimStatus::Open,
        ClaimStatus::InReview,
        ClaimStatus::Approved,
        ClaimStatus::Rejected,
        ClaimStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Open => "open",
            ClaimStatus::InReview => "in_review",
            ClaimStatus::Approved => "approved",
            ClaimStatus::Rejected => "rejected",
            ClaimStatus::Closed => "closed",
        }
    }

    pub fn parse_stored(s: &str) -> Result<ClaimStatus> {
        Ok(match s {
            "open" => ClaimStatus::Open,
            "in_review" => ClaimStatus::InReview,
            "approved" => ClaimStatus::Approved,
            "rejected" => ClaimStatus::Rejected,
            "closed" => ClaimStatus::Closed,
            other => return Err(Error::Internal(format!("stored claim status `{other}`"))),
        })
    }

    /// The states a claim may move to `to` from.
    pub fn sources_of(to: ClaimStatus) -> &'static [ClaimStatus] {
        match to {
            ClaimStatus::Open => &[],
            ClaimStatus::InReview => &[ClaimStatus::Open],
            ClaimStatus::Approved | ClaimStatus::Rejected => &[ClaimStatus::InReview],
            ClaimStatus::Closed => &[ClaimStatus::Approved, ClaimStatus::Rejected],
        }
    }
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Claim {
    /// Record id (UUID v7).
    pub id: String,
    /// The policy claimed on.
    pub policy_id: String,
    pub status: ClaimStatus,
    /// When the loss happened.
    pub incident_date: Date,
    /// What happened.
    pub description: String,
    /// Amount claimed, in minor units.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000000")))]
    pub amount_claimed_minor: i64,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct NewClaim {
    pub policy_id: String,
    pub incident_date: Date,
    pub description: String,
    pub amount_claimed: Money,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_cannot_skip_review() {
        assert!(!ClaimStatus::sources_of(ClaimStatus::Approved).contains(&ClaimStatus::Open));
        assert!(ClaimStatus::sources_of(ClaimStatus::Closed).contains(&ClaimStatus::Rejected));
    }
}
