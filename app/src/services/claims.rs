use crate::{
    domain::{
        claim::{Claim, ClaimStatus, NewClaim},
        event,
        policy::PolicyStatus,
        scalars::Date,
        underwriting,
        values::{new_id, today},
    },
    platform::db::{Db, now_ms},
    platform::error::{Error, Result},
    platform::outbox::emit,
    store::{self, Page, PageRequest},
};

use super::{found, refuse_transition};

/// Opens a claim for an incident inside the policy's cover (which a cancelled or expired policy
/// still had), for no more than its total limit. A policy never activated covers nothing.
pub async fn create(db: &Db, new: NewClaim) -> Result<Claim> {
    let id = new_id();
    let mut tx = db.begin().await?;
    let claimable = [
        PolicyStatus::Active,
        PolicyStatus::Cancelled,
        PolicyStatus::Expired,
    ];
    let locked = store::policies::lock_if(&mut tx.sql(), &new.policy_id, &claimable).await?;
    let policy = store::policies::get(&mut tx.sql(), &new.policy_id)
        .await?
        .ok_or_else(|| Error::validation("policy_id", "no such policy"))?;
    // Cancelled while only bound: it never covered anything.
    if !locked || policy.activated_at.is_none() {
        return Err(Error::conflict(
            "policy_not_active",
            format!(
                "a {} policy covers nothing yet: activate it first",
                policy.status.as_str()
            ),
        ));
    }
    let ended = policy.ended_at.map(|at| Date::from(at.date_naive()));
    let cover = (
        policy.effective_date,
        underwriting::cover_end(policy.expiry_date, ended),
    );
    let limit = store::quotes::coverages_for(&mut tx.sql(), &[policy.quote_id.as_str()])
        .await?
        .into_values()
        .flatten()
        .map(|c| c.limit_minor)
        .sum();
    underwriting::claim(
        today(),
        new.incident_date,
        cover,
        new.amount_claimed.minor(),
        limit,
    )?;
    store::claims::insert(&mut tx.sql(), &id, &new, now_ms()).await?;
    // Read inside the transaction: once it commits, nothing can fail and hide the change.
    let claim = found(store::claims::get(&mut tx.sql(), &id).await?, "claim")?;
    emit(&mut tx.sql(), event::claim(&claim, true, now_ms())).await?;
    tx.commit().await?;
    Ok(claim)
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
    let mut tx = db.begin().await?;
    if !store::claims::transition(&mut tx.sql(), id, to, now_ms()).await? {
        let current = store::claims::get(&mut tx.sql(), id)
            .await?
            .map(|c| c.status.as_str());
        return Err(refuse_transition(
            current,
            "claim",
            "invalid_claim_transition",
            to.as_str(),
        ));
    }
    let claim = found(store::claims::get(&mut tx.sql(), id).await?, "claim")?;
    emit(&mut tx.sql(), event::claim(&claim, false, now_ms())).await?;
    tx.commit().await?;
    Ok(claim)
}
