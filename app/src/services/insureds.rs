use std::sync::Arc;

use crate::{
    domain::{
        insured::{Insured, NewInsured},
        values::new_id,
    },
    platform::cache::{Memo, TenantCache},
    platform::db::{Db, now_ms},
    platform::error::Result,
    services::keys::InsuredKey,
    store::{self, Page, PageRequest},
};

use super::found;

pub async fn create(db: &Db, new: NewInsured) -> Result<Insured> {
    let id = new_id();
    let mut tx = db.begin().await?;
    store::insureds::insert(
        &mut tx.sql(),
        &id,
        &new.full_name,
        &new.email,
        new.date_of_birth,
        now_ms(),
    )
    .await?;
    let insured = found(store::insureds::get(&mut tx.sql(), &id).await?, "insured")?;
    tx.commit().await?;
    Ok(insured)
}

/// The insured, shared with every request the cache serves it to.
pub async fn get(db: &Db, cache: &TenantCache, id: &str) -> Result<Arc<Memo<Insured>>> {
    let key = InsuredKey(id);
    let cached = cache.get_or_load(&key, || async {
        let insured = store::insureds::get(&mut db.conn().await?.sql(), id).await?;
        Ok(insured.map(Memo::new))
    });
    found(cached.await?, "insured")
}

pub async fn list(db: &Db, email: Option<String>, page: &PageRequest) -> Result<Page<Insured>> {
    store::insureds::list(&mut db.conn().await?.sql(), email, page).await
}
