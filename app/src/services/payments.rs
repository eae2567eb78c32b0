use crate::{
    domain::{
        event,
        payment::{NewPayment, Payment},
        policy::PolicyStatus,
        values::new_id,
    },
    platform::db::{Db, now_ms},
    platform::error::{Error, Result},
    platform::outbox::emit,
    store::{self, Page, PageRequest},
};

use super::found;

/// Records a payment on a bound or active policy, in the policy's currency.
pub async fn create(db: &Db, new: NewPayment) -> Result<Payment> {
    let id = new_id();
    let mut tx = db.begin().await?;
    let payable =
        store::policies::lock_if(&mut tx.sql(), &new.policy_id, PolicyStatus::PAYABLE).await?;
    let policy = store::policies::get(&mut tx.sql(), &new.policy_id)
        .await?
        .ok_or_else(|| Error::validation("policy_id", "no such policy"))?;
    if !payable {
        return Err(Error::conflict(
            "policy_not_payable",
            format!("a {} policy does not take payments", policy.status.as_str()),
        ));
    }
    if policy.currency != new.currency.as_str() {
        return Err(Error::validation(
            "currency",
            format!("the policy is in {}", policy.currency),
        ));
    }
    store::payments::insert(&mut tx.sql(), &id, &new, now_ms()).await?;
    // Read inside the transaction: once it commits, nothing can fail and hide the change.
    let payment = found(store::payments::get(&mut tx.sql(), &id).await?, "payment")?;
    emit(&mut tx.sql(), event::payment(&payment, now_ms())).await?;
    tx.commit().await?;
    Ok(payment)
}

pub async fn get(db: &Db, id: &str) -> Result<Payment> {
    found(
        store::payments::get(&mut db.conn().await?.sql(), id).await?,
        "payment",
    )
}

pub async fn list(db: &Db, policy_id: Option<String>, page: &PageRequest) -> Result<Page<Payment>> {
    store::payments::list(&mut db.conn().await?.sql(), policy_id, page).await
}
