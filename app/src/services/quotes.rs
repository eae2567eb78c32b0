use std::sync::Arc;

use serde_json::json;

use crate::{
    domain::{
        quote::{NewQuote, Quote},
        values::new_id,
    },
    partners::{self, Partners},
    platform::cache::{Memo, TenantCache},
    platform::db::{Db, now_ms},
    platform::error::{Error, Result},
    services::keys::QuoteKey,
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

/// What the rating partner priced a quote at.
pub struct Rated {
    pub premium_minor: i64,
}

/// Asks the rating partner (Camel's `rating` route) to price the quote, synchronously: the
/// fail-fast path. A partner down or its breaker open is a 503 with `Retry-After`.
pub async fn rate(
    db: &Db,
    cache: &TenantCache,
    partners: &Partners,
    tenant_id: &str,
    id: &str,
) -> Result<Rated> {
    let quote = get(db, cache, id).await?;
    let quote = quote.value();
    let coverages: Vec<_> = quote
        .coverages
        .iter()
        .map(|c| json!({"code": c.code, "limit_minor": c.limit_minor, "deductible_minor": c.deductible_minor}))
        .collect();
    let data = json!({
        "id": quote.id,
        "product": quote.product,
        "currency": quote.currency,
        "effective_date": quote.effective_date.to_string(),
        "expiry_date": quote.expiry_date.to_string(),
        "coverages": coverages,
    });
    let answer = partners.send(partners::RATING, tenant_id, data).await?;
    let premium_minor = answer["premium_minor"]
        .as_i64()
        .filter(|p| (0..=1_000_000_000_000).contains(p))
        .ok_or_else(|| {
            Error::Internal(format!(
                "the rating partner answered without a premium_minor of 0 to 10^12: {answer}"
            ))
        })?;
    Ok(Rated { premium_minor })
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
