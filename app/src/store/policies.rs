use std::collections::HashMap;

use super::{Filter, Page, PageRequest, bind_all, into_page, payments, quotes};
use crate::{
    domain::{
        policy::{ActivePolicy, InsuredSummary, Policy, PolicyChanges, PolicyStatus},
        scalars::Date,
        values::{date_from_text, date_to_text, instant},
    },
    platform::db::{self, Sql, placeholders},
    platform::error::Result,
};

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    number: String,
    quote_id: String,
    insured_id: String,
    status: String,
    currency: String,
    premium_minor: i64,
    effective_date: String,
    expiry_date: String,
    notes: Option<String>,
    cancellation_reason: Option<String>,
    bound_at: i64,
    activated_at: Option<i64>,
    ended_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    fn into_policy(self) -> Result<Policy> {
        Ok(Policy {
            status: PolicyStatus::parse_stored(&self.status)?,
            effective_date: date_from_text(&self.effective_date)?,
            expiry_date: date_from_text(&self.expiry_date)?,
            id: self.id,
            number: self.number,
            quote_id: self.quote_id,
            insured_id: self.insured_id,
            currency: self.currency,
            premium_minor: self.premium_minor,
            notes: self.notes,
            cancellation_reason: self.cancellation_reason,
            bound_at: instant(self.bound_at),
            activated_at: self.activated_at.map(instant),
            ended_at: self.ended_at.map(instant),
            created_at: instant(self.created_at),
            updated_at: instant(self.updated_at),
        })
    }
}

const FIELDS: &str = "p.id, p.number, p.quote_id, p.insured_id, p.status, p.currency, \
    p.premium_minor, p.effective_date, p.expiry_date, p.notes, p.cancellation_reason, p.bound_at, \
    p.activated_at, p.ended_at, p.created_at, p.updated_at";

pub async fn insert(sql: &mut Sql<'_>, p: &Policy, now: i64) -> Result<()> {
    sql.execute(
        db::query(
            "INSERT INTO policies (id, number, quote_id, insured_id, status, currency, premium_minor, \
             effective_date, expiry_date, notes, bound_at, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&p.id)
        .bind(&p.number)
        .bind(&p.quote_id)
        .bind(&p.insured_id)
        .bind(p.status.as_str())
        .bind(&p.currency)
        .bind(p.premium_minor)
        .bind(date_to_text(p.effective_date))
        .bind(date_to_text(p.expiry_date))
        .bind(p.notes.clone())
        .bind(now)
        .bind(now)
        .bind(now),
    )
    .await?;
    Ok(())
}

pub async fn get(sql: &mut Sql<'_>, id: &str) -> Result<Option<Policy>> {
    let row: Option<Row> = super::by_id(sql, &format!("{FIELDS} FROM policies p"), id).await?;
    row.map(Row::into_policy).transpose()
}

pub async fn list(
    sql: &mut Sql<'_>,
    status: Option<PolicyStatus>,
    insured_id: Option<String>,
    page: &PageRequest,
) -> Result<Page<Policy>> {
    Filter::default()
        .eq("p.status", status.map(|s| s.as_str().to_owned()))
        .eq("p.insured_id", insured_id)
        .page(
            sql,
            &format!("{FIELDS} FROM policies p"),
            page,
            Row::into_policy,
            |p| &p.id,
        )
        .await
}

/// Moves a policy to `to` if it is in one of `to`'s source states; returns whether it did.
pub async fn transition(
    sql: &mut Sql<'_>,
    id: &str,
    to: PolicyStatus,
    reason: Option<&str>,
    now: i64,
) -> Result<bool> {
    let sources = PolicyStatus::sources_of(to);
    if sources.is_empty() {
        return Ok(false);
    }
    let stamp = match to {
        PolicyStatus::Active => "activated_at = ?",
        _ => "ended_at = ?",
    };
    let q = format!(
        "UPDATE policies SET status = ?, {stamp}, cancellation_reason = COALESCE(?, cancellation_reason), \
         updated_at = ? WHERE id = ? AND status IN ({})",
        placeholders(sources.len())
    );
    let mut stmt = db::query(sqlx::AssertSqlSafe(q))
        .bind(to.as_str())
        .bind(now)
        .bind(reason)
        .bind(now)
        .bind(id);
    for s in sources {
        stmt = stmt.bind(s.as_str());
    }
    Ok(sql.execute(stmt).await? == 1)
}

/// Takes the policy's row lock if it is in one of `statuses`; returns whether it is. Run first in
/// a transaction that depends on the status, so a concurrent cancel waits for it (InnoDB row
/// lock; on SQLite, `BEGIN IMMEDIATE` already serialises writers). A no-op UPDATE because
/// SQLite has no `SELECT … FOR UPDATE`.
pub async fn lock_if(sql: &mut Sql<'_>, id: &str, statuses: &[PolicyStatus]) -> Result<bool> {
    let q = format!(
        "UPDATE policies SET updated_at = updated_at WHERE id = ? AND status IN ({})",
        placeholders(statuses.len())
    );
    let mut stmt = db::query(sqlx::AssertSqlSafe(q)).bind(id);
    for s in statuses {
        stmt = stmt.bind(s.as_str());
    }
    Ok(sql.execute(stmt).await? == 1)
}

/// The active policies whose expiry date is before `today`.
pub async fn due(sql: &mut Sql<'_>, today: Date) -> Result<Vec<String>> {
    sql.all(
        db::query_as::<(String,)>(
            "SELECT id FROM policies WHERE status = 'active' AND expiry_date < ? ORDER BY id",
        )
        .bind(date_to_text(today)),
    )
    .await
    .map(|rows| rows.into_iter().map(|(id,)| id).collect())
}

/// Expires the policy if it is active and its expiry date is before `today`; whether it did.
pub async fn expire_if_due(sql: &mut Sql<'_>, id: &str, today: Date, now: i64) -> Result<bool> {
    let changed = sql
        .execute(
            db::query(
                "UPDATE policies SET status = 'expired', ended_at = ?, updated_at = ? \
                 WHERE id = ? AND status = 'active' AND expiry_date < ?",
            )
            .bind(now)
            .bind(now)
            .bind(id)
            .bind(date_to_text(today)),
        )
        .await?;
    Ok(changed == 1)
}

/// Applies a PATCH to a policy that is still open; returns whether it did.
pub async fn update(sql: &mut Sql<'_>, id: &str, c: &PolicyChanges, now: i64) -> Result<bool> {
    let changed = sql
        .execute(
            db::query(
                "UPDATE policies SET expiry_date = COALESCE(?, expiry_date), notes = COALESCE(?, notes), \
                 updated_at = ? WHERE id = ? AND status IN ('bound', 'active')",
            )
            .bind(c.expiry_date.map(date_to_text))
            .bind(c.notes.clone())
            .bind(now)
            .bind(id),
        )
        .await?;
    Ok(changed == 1)
}

#[derive(sqlx::FromRow)]
struct ActiveRow {
    #[sqlx(flatten)]
    policy: Row,
    insured_full_name: String,
    insured_email: String,
}

#[derive(sqlx::FromRow)]
struct ClaimCount {
    policy_id: String,
    n: i64,
}

/// Active policies with their insured, coverages, last payment and claims count: four
/// statements whatever the page size (the page with insureds joined, then one `IN` list each for
/// coverages, last payments and claim counts), never one per policy.
pub async fn active(sql: &mut Sql<'_>, page: &PageRequest) -> Result<Page<ActivePolicy>> {
    let select = format!(
        "{FIELDS}, i.full_name AS insured_full_name, i.email AS insured_email \
         FROM policies p JOIN insureds i ON i.id = p.insured_id"
    );
    let rows: Vec<ActiveRow> = Filter::default()
        .eq("p.status", Some(PolicyStatus::Active.as_str().to_owned()))
        .rows(sql, &select, "p.id", page)
        .await?;
    let page_rows = into_page(rows, page, |r| &r.policy.id);
    if page_rows.items.is_empty() {
        return Ok(Page {
            items: vec![],
            next: None,
        });
    }
    let quote_ids: Vec<&str> = page_rows
        .items
        .iter()
        .map(|r| r.policy.quote_id.as_str())
        .collect();
    let policy_ids: Vec<&str> = page_rows
        .items
        .iter()
        .map(|r| r.policy.id.as_str())
        .collect();
    let mut coverages = quotes::coverages_for(sql, &quote_ids).await?;
    let mut last_payments = payments::last_for(sql, &policy_ids).await?;
    let mut claims = claim_counts(sql, &policy_ids).await?;

    let mut items = Vec::with_capacity(page_rows.items.len());
    for r in page_rows.items {
        let policy = r.policy.into_policy()?;
        items.push(ActivePolicy {
            insured: InsuredSummary {
                id: policy.insured_id.clone(),
                full_name: r.insured_full_name,
                email: r.insured_email,
            },
            coverages: coverages.remove(&policy.quote_id).unwrap_or_default(),
            last_payment: last_payments.remove(&policy.id),
            claims_count: claims.remove(&policy.id).unwrap_or(0),
            policy,
        });
    }
    Ok(Page {
        items,
        next: page_rows.next,
    })
}

async fn claim_counts(sql: &mut Sql<'_>, policy_ids: &[&str]) -> Result<HashMap<String, i64>> {
    let q = format!(
        "SELECT policy_id, COUNT(*) AS n FROM claims WHERE policy_id IN ({}) GROUP BY policy_id",
        placeholders(policy_ids.len())
    );
    let stmt = bind_all(
        db::query_as::<ClaimCount>(sqlx::AssertSqlSafe(q)),
        policy_ids.iter().copied(),
    );
    Ok(sql
        .all(stmt)
        .await?
        .into_iter()
        .map(|c| (c.policy_id, c.n))
        .collect())
}

/// The policies with these ids, newest first (ids that name none are left out).
pub async fn by_ids(sql: &mut Sql<'_>, ids: &[String]) -> Result<Vec<Policy>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = format!(
        "SELECT {FIELDS} FROM policies p WHERE p.id IN ({}) ORDER BY p.id DESC",
        db::placeholders(ids.len())
    );
    let rows: Vec<Row> = sql
        .all(super::bind_all(
            db::query_as::<Row>(sqlx::AssertSqlSafe(q)),
            ids.iter().cloned(),
        ))
        .await?;
    rows.into_iter().map(Row::into_policy).collect()
}
