use std::sync::Arc;

use crate::{
    cache::{Memo, TenantCache, keys::QuoteKey},
    db::{Db, now_ms},
    domain::{
        quote::{NewQuote, Quote},
        values::new_id,
    },
    error::{Error, Result},
    store::{self, Page, PageRequest},
};

use super::found;

pub async fn create(db: &Db, new: NewQuote) -> Result<Quote> {
    let id = new_id();
    let mut tx = db.begin().await?;
    if !store::insureds::exists(&mut tx.sql(), &new.insured_id).await? {
        return Err(Error::validation("insured_id", "no such insured"));
    }
    store::quotes::insert(&mut tx.sql(), &id, &new, now_ms()).await?;
    let quote = found(store::quotes::get(&mut tx.sql(), &id).await?, "quote")?;
    tx.commit().await?;
    Ok(quote)
}

/// The quote, shared with every request the cache serves it to.
pub async fn get(db: &Db, cache: &TenantCache, id: &str) -> Result<Arc<Memo<Quote>>> {
    let key = QuoteKey(id);
    let cached = cache.get_or_load(&key, || async {
        let quote = store::quotes::get(&mut db.conn().await?.sql(), id).await?;
        Ok(quote.map(Memo::new))
    });
    found(cached.await?, "quote")
}

pub async fn list(db: &Db, insured_id: Option<String>, page: &PageRequest) -> Result<Page<Quote>> {
    store::quotes::list(&mut db.conn().await?.sql(), insured_id, page).await
}
