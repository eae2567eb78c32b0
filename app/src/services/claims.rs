use crate::{
    db::{Db, now_ms},
    domain::{
        claim::{Claim, ClaimStatus, NewClaim},
        policy::PolicyStatus,
        values::{new_id, today},
    },
    error::{Error, Result},
    store::{self, Page, PageRequest},
};

use super::{found, refuse_transition};

/// Opens a claim on an active policy for an incident inside the policy's term.
pub async fn create(db: &Db, new: NewClaim) -> Result<Claim> {
    let id = new_id();
    let mut tx = db.begin().await?;
    let active =
        store::policies::lock_if(&mut tx.sql(), &new.policy_id, &[PolicyStatus::Active]).await?;
    let policy = store::policies::get(&mut tx.sql(), &new.policy_id)
        .await?
        .ok_or_else(|| Error::validation("policy_id", "no such policy"))?;
    if !active {
        return Err(Error::conflict(
            "policy_not_active",
            format!(
                "claims need an active policy; this one is {}",
                policy.status.as_str()
            ),
        ));
    }
    if new.incident_date > today() {
        return Err(Error::validation(
            "incident_date",
            "must not be in the future",
        ));
    }
    if new.incident_date < policy.effective_date || new.incident_date > policy.expiry_date {
        return Err(Error::validation(
            "incident_date",
            "must fall within the policy's term",
        ));
    }
    store::claims::insert(&mut tx.sql(), &id, &new, now_ms()).await?;
    tx.commit().await?;
    get(db, &id).await
}

pub async fn get(db: &Db, id: &str) -> Result<Claim> {
    found(
        store::claims::get(&mut db.conn().await?.sql(), id).await?,
        "claim",
    )
}

pub async fn list(
    db: &Db,
    policy_id: Option<String>,
    status: Option<ClaimStatus>,
    page: &PageRequest,
) -> Result<Page<Claim>> {
    store::claims::list(&mut db.conn().await?.sql(), policy_id, status, page).await
}

pub async fn move_to(db: &Db, id: &str, to: ClaimStatus) -> Result<Claim> {
    let mut conn = db.conn().await?;
    let mut sql = conn.sql();
    if !store::claims::transition(&mut sql, id, to, now_ms()).await? {
        let current = store::claims::get(&mut sql, id).await?.map(|c| c.status);
        return Err(refuse_transition(
            current,
            "claim",
            "invalid_claim_transition",
            to.as_str(),
        ));
    }
    found(store::claims::get(&mut sql, id).await?, "claim")
}
