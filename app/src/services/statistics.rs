//! How many policies and claims a tenant has in each status, for the status gauges.

use crate::{
    domain::{claim::ClaimStatus, policy::PolicyStatus},
    platform::db::Db,
    platform::error::Result,
    store::statistics::{StatusTable, by_status},
};

/// Every status of a kind with its count, zeros included: a status that empties must read 0,
/// not keep its last value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub policies: Vec<(&'static str, i64)>,
    pub claims: Vec<(&'static str, i64)>,
}

impl StatusCounts {
    pub fn zero() -> StatusCounts {
        StatusCounts {
            policies: complete(PolicyStatus::ALL.iter().map(|s| s.as_str()), &[]),
            claims: complete(ClaimStatus::ALL.iter().map(|s| s.as_str()), &[]),
        }
    }

    /// Adds another tenant's counts (tenants folded into one metric label).
    pub fn plus(mut self, other: &StatusCounts) -> StatusCounts {
        add(&mut self.policies, &other.policies);
        add(&mut self.claims, &other.claims);
        self
    }
}

fn add(into: &mut [(&'static str, i64)], from: &[(&'static str, i64)]) {
    for (status, n) in into {
        *n += from.iter().find(|(s, _)| s == status).map_or(0, |f| f.1);
    }
}

pub async fn status_counts(db: &Db) -> Result<StatusCounts> {
    let mut conn = db.conn().await?;
    let mut sql = conn.sql();
    let policies = by_status(&mut sql, StatusTable::Policies).await?;
    let claims = by_status(&mut sql, StatusTable::Claims).await?;
    Ok(StatusCounts {
        policies: complete(PolicyStatus::ALL.iter().map(|s| s.as_str()), &policies),
        claims: complete(ClaimStatus::ALL.iter().map(|s| s.as_str()), &claims),
    })
}

fn complete(
    statuses: impl Iterator<Item = &'static str>,
    counted: &[(String, i64)],
) -> Vec<(&'static str, i64)> {
    statuses
        .map(|status| {
            let n = counted.iter().find(|(s, _)| s == status).map_or(0, |c| c.1);
            (status, n)
        })
        .collect()
}
