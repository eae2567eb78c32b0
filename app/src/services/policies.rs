use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::{
    domain::{
        event,
        policy::{ActivePolicy, Policy, PolicyChanges, PolicyStatus, new_number},
        quote::QuoteStatus,
        underwriting::{self, Rules},
        values::{instant, new_id, today},
    },
    platform::cache::{Memo, TenantCache},
    platform::db::{Db, Sql, now_ms},
    platform::error::{Error, Result},
    platform::outbox::emit,
    services::keys::{ActivePageKey, PolicyKey},
    store::{self, Page, PageRequest},
};

use super::{found, refuse_transition};

/// An Idempotency-Key and the fingerprint of the request that came with it. The key is kept as
/// its SHA-256, so it is compared byte for byte on every engine (MariaDB's collation would
/// otherwise make `Bind-1` and `bind-1` one key) and fits the column whatever its length.
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
}

impl Idempotency {
    pub fn new(key: &str, fingerprint: String) -> Idempotency {
        Idempotency {
            key: hex::encode(Sha256::digest(key.as_bytes())),
            fingerprint,
        }
    }
}

pub enum Bound {
    /// A new policy.
    Created(Policy),
    /// The policy an earlier request with the same key and body made.
    Replayed(Policy),
}

/// Binds a quote into a policy, in one transaction: the quote's guarded move to `bound`, the
/// policy, and the idempotency record commit together or not at all.
pub async fn bind(
    db: &Db,
    rules: &Rules,
    quote_id: &str,
    notes: Option<String>,
    idem: Option<Idempotency>,
) -> Result<Bound> {
    if let Some(replayed) = replay(db, idem.as_ref()).await? {
        return Ok(replayed);
    }
    let now = now_ms();
    let mut tx = db.begin().await?;
    let quote = found(store::quotes::get(&mut tx.sql(), quote_id).await?, "quote")?;
    if quote.status == QuoteStatus::Quoted {
        rules.bind(today(), quote.effective_date)?;
    }
    if !store::quotes::mark_bound(&mut tx.sql(), quote_id, now).await? {
        drop(tx);
        // A concurrent request with the same key may have bound it a moment ago.
        if let Some(replayed) = replay(db, idem.as_ref()).await? {
            return Ok(replayed);
        }
        return Err(match quote.status {
            QuoteStatus::Expired => {
                Error::conflict("quote_expired", "the quote is past its valid_until date")
            }
            _ => Error::conflict(
                "quote_already_bound",
                "the quote is already bound to a policy",
            ),
        });
    }
    let policy = Policy {
        id: new_id(),
        number: new_number(),
        quote_id: quote.id,
        insured_id: quote.insured_id,
        status: PolicyStatus::Bound,
        currency: quote.currency,
        premium_minor: quote.premium_minor,
        effective_date: quote.effective_date,
        expiry_date: quote.expiry_date,
        notes,
        cancellation_reason: None,
        bound_at: instant(now),
        activated_at: None,
        ended_at: None,
        created_at: instant(now),
        updated_at: instant(now),
    };
    store::policies::insert(&mut tx.sql(), &policy, now).await?;
    if let Some(idem) = &idem {
        let recorded = store::idempotency::insert(
            &mut tx.sql(),
            &idem.key,
            &idem.fingerprint,
            &policy.id,
            now,
        )
        .await;
        if let Err(Error::Conflict {
            code: "duplicate", ..
        }) = recorded
        {
            // The same key won a race for another quote: answer as the key's owner would.
            drop(tx);
            return replay(db, Some(idem))
                .await?
                .ok_or(Error::IdempotencyMismatch);
        }
        recorded?;
    }
    // Read inside the transaction: once it commits, nothing can fail and hide the change.
    let policy = found(
        store::policies::get(&mut tx.sql(), &policy.id).await?,
        "policy",
    )?;
    emit(&mut tx.sql(), event::policy(&policy, now)).await?;
    tx.commit().await?;
    Ok(Bound::Created(policy))
}

async fn replay(db: &Db, idem: Option<&Idempotency>) -> Result<Option<Bound>> {
    let Some(idem) = idem else { return Ok(None) };
    let mut conn = db.conn().await?;
    let mut sql = conn.sql();
    let Some(recorded) = store::idempotency::get(&mut sql, &idem.key).await? else {
        return Ok(None);
    };
    if recorded.request_hash != idem.fingerprint {
        return Err(Error::IdempotencyMismatch);
    }
    let policy = found(
        store::policies::get(&mut sql, &recorded.policy_id).await?,
        "policy",
    )?;
    Ok(Some(Bound::Replayed(policy)))
}

/// The policy, shared with every request the cache serves it to.
pub async fn get(db: &Db, cache: &TenantCache, id: &str) -> Result<Arc<Memo<Policy>>> {
    let key = PolicyKey(id);
    let cached = cache.get_or_load(&key, || async {
        let policy = store::policies::get(&mut db.conn().await?.sql(), id).await?;
        Ok(policy.map(Memo::new))
    });
    found(cached.await?, "policy")
}

pub async fn list(
    db: &Db,
    status: Option<PolicyStatus>,
    insured_id: Option<String>,
    page: &PageRequest,
) -> Result<Page<Policy>> {
    store::policies::list(&mut db.conn().await?.sql(), status, insured_id, page).await
}

/// A page of active policies. Only first pages are cached (one per page size): a cursor is any
/// UUID, so caching the page after each would let a client store as many copies of the list as
/// it sends cursors; a first page is one of at most 100 per tenant.
pub async fn active(
    db: &Db,
    cache: &TenantCache,
    page: &PageRequest,
) -> Result<Arc<Memo<Page<ActivePolicy>>>> {
    let load = || async {
        let loaded = store::policies::active(&mut db.conn().await?.sql(), page).await?;
        Ok(Some(Memo::new(loaded)))
    };
    let cached = if page.after.is_some() {
        load().await?
    } else {
        let key = ActivePageKey { limit: page.limit };
        cache.get_or_load(&key, load).await?
    };
    let empty = || {
        Memo::new(Page {
            items: Vec::new(),
            next: None,
        })
    };
    Ok(cached.unwrap_or_else(empty))
}

/// Activates, cancels or expires a policy, if its current status (and, to expire it, the
/// calendar) allows. In a transaction that first waits for writes in flight on the policy (a
/// payment being recorded holds it) and only then reads the clock, so a cancellation never ends
/// cover before a payment the policy took.
pub async fn move_to(db: &Db, id: &str, to: PolicyStatus, reason: Option<&str>) -> Result<Policy> {
    let mut tx = db.begin().await?;
    let sources = PolicyStatus::sources_of(to);
    let movable =
        !sources.is_empty() && store::policies::lock_if(&mut tx.sql(), id, sources).await?;
    if movable
        && to == PolicyStatus::Expired
        && let Some(policy) = store::policies::get(&mut tx.sql(), id).await?
    {
        underwriting::expire(today(), policy.expiry_date)?;
    }
    if !movable || !store::policies::transition(&mut tx.sql(), id, to, reason, now_ms()).await? {
        drop(tx);
        let mut conn = db.conn().await?;
        return Err(refused(&mut conn.sql(), id, to.as_str()).await);
    }
    let policy = found(store::policies::get(&mut tx.sql(), id).await?, "policy")?;
    emit(&mut tx.sql(), event::policy(&policy, now_ms())).await?;
    tx.commit().await?;
    Ok(policy)
}

/// Whether the tenant has a policy with this id (any text: what is not an id is simply none).
pub async fn exists(db: &Db, id: &str) -> Result<bool> {
    let mut conn = db.conn().await?;
    Ok(store::policies::get(&mut conn.sql(), id).await?.is_some())
}

/// The ids of active policies past their expiry date (the clock queues an ExpirePolicy each).
pub async fn due_for_expiry(db: &Db) -> Result<Vec<String>> {
    let mut conn = db.conn().await?;
    store::policies::due(&mut conn.sql(), today()).await
}

/// Expires one policy past its term, with its PolicyExpired event, in one transaction; the
/// policy if this call expired it. Guarded: a policy cancelled (or expired) meanwhile, or not
/// yet past its term, is left as it is, so a job run twice expires it once.
pub async fn expire_due(db: &Db, id: &str) -> Result<Option<Policy>> {
    let mut tx = db.begin().await?;
    let now = now_ms();
    if !store::policies::expire_if_due(&mut tx.sql(), id, today(), now).await? {
        return Ok(None);
    }
    let Some(policy) = store::policies::get(&mut tx.sql(), id).await? else {
        return Ok(None);
    };
    emit(&mut tx.sql(), event::policy(&policy, now)).await?;
    tx.commit().await?;
    Ok(Some(policy))
}

async fn refused(sql: &mut Sql<'_>, id: &str, wanted: &str) -> Error {
    match store::policies::get(sql, id).await {
        Ok(current) => refuse_transition(
            current.map(|p| p.status.as_str()),
            "policy",
            "invalid_policy_transition",
            wanted,
        ),
        Err(e) => e,
    }
}

/// PATCH: only an open policy changes; its term may shorten, not into the past, never extend.
pub async fn update(db: &Db, id: &str, changes: PolicyChanges) -> Result<Policy> {
    let mut tx = db.begin().await?;
    // Hold the row first: two PATCHes must not both check against the same old term.
    store::policies::lock_if(&mut tx.sql(), id, PolicyStatus::PAYABLE).await?;
    let current = found(store::policies::get(&mut tx.sql(), id).await?, "policy")?;
    if !current.status.is_open() {
        return Err(Error::conflict(
            "policy_closed",
            "a cancelled or expired policy cannot change",
        ));
    }
    if let Some(expiry) = changes.expiry_date {
        underwriting::change_expiry(today(), current.effective_date, current.expiry_date, expiry)?;
    }
    if !store::policies::update(&mut tx.sql(), id, &changes, now_ms()).await? {
        return Err(Error::conflict(
            "policy_closed",
            "a cancelled or expired policy cannot change",
        ));
    }
    let policy = found(store::policies::get(&mut tx.sql(), id).await?, "policy")?;
    tx.commit().await?;
    Ok(policy)
}
