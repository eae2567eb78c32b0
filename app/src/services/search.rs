//! The seed's UpdateSearchIndex and the search it serves: a policy's document (its number, its
//! insured's name and e-mail, its notes, its status) rewritten after each change, and found by
//! word prefixes.

use crate::{
    domain::policy::Policy,
    platform::db::Db,
    platform::error::Result,
    store::{self, Page, PageRequest, search::Document},
};

/// The most words a search takes.
const MAX_TERMS: usize = 8;

/// Rewrites the policy's document (or removes it, if the policy is gone).
pub async fn index_policy(db: &Db, policy_id: &str) -> Result<()> {
    let mut conn = db.conn().await?;
    let mut sql = conn.sql();
    let Some(policy) = store::policies::get(&mut sql, policy_id).await? else {
        return store::search::remove(&mut sql, policy_id).await;
    };
    let insured = store::insureds::get(&mut sql, &policy.insured_id).await?;
    let (name, email) = insured
        .as_ref()
        .map_or(("", ""), |i| (i.full_name.as_str(), i.email.as_str()));
    let document = Document {
        policy_id: &policy.id,
        number: &policy.number,
        insured_name: name,
        email,
        notes: policy.notes.as_deref(),
        status: policy.status.as_str(),
    };
    store::search::put(&mut sql, &document).await
}

/// The words of a query: letters and digits, lowercased.
pub fn terms(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_TERMS)
        .map(str::to_lowercase)
        .collect()
}

/// The policies every term matches, newest first; none for no term (nothing to match).
pub async fn search(db: &Db, terms: &[String], page: &PageRequest) -> Result<Page<Policy>> {
    if terms.is_empty() {
        return Ok(Page {
            items: Vec::new(),
            next: None,
        });
    }
    let mut conn = db.conn().await?;
    let mut sql = conn.sql();
    let ids = store::search::find(&mut sql, terms, page.after.as_deref(), page.limit + 1).await?;
    let items = store::policies::by_ids(&mut sql, &ids).await?;
    Ok(store::into_page(items, page, |p| &p.id))
}
