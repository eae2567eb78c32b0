use super::{Filter, Page, PageRequest};
use crate::{
    domain::{
        claim::{Claim, ClaimStatus, NewClaim},
        values::{date_from_text, date_to_text, instant},
    },
    platform::db::{self, Sql, placeholders},
    platform::error::Result,
};

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    policy_id: String,
    status: String,
    incident_date: String,
    description: String,
    amount_claimed_minor: i64,
    opened_at: i64,
    updated_at: i64,
}

impl Row {
    fn into_claim(self) -> Result<Claim> {
        Ok(Claim {
            status: ClaimStatus::parse_stored(&self.status)?,
            incident_date: date_from_text(&self.incident_date)?,
            id: self.id,
            policy_id: self.policy_id,
            description: self.description,
            amount_claimed_minor: self.amount_claimed_minor,
            opened_at: instant(self.opened_at),
            updated_at: instant(self.updated_at),
        })
    }
}

const COLUMNS: &str = "id, policy_id, status, incident_date, description, amount_claimed_minor, opened_at, updated_at";

pub async fn insert(sql: &mut Sql<'_>, id: &str, c: &NewClaim, now: i64) -> Result<()> {
    sql.execute(
        db::query(
            "INSERT INTO claims (id, policy_id, status, incident_date, description, \
             amount_claimed_minor, opened_at, updated_at) VALUES (?, ?, 'open', ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(&c.policy_id)
        .bind(date_to_text(c.incident_date))
        .bind(&c.description)
        .bind(c.amount_claimed.minor())
        .bind(now)
        .bind(now),
    )
    .await?;
    Ok(())
}

pub async fn get(sql: &mut Sql<'_>, id: &str) -> Result<Option<Claim>> {
    let row: Option<Row> = super::by_id(sql, &format!("{COLUMNS} FROM claims"), id).await?;
    row.map(Row::into_claim).transpose()
}

pub async fn list(
    sql: &mut Sql<'_>,
    policy_id: Option<String>,
    status: Option<ClaimStatus>,
    page: &PageRequest,
) -> Result<Page<Claim>> {
    Filter::default()
        .eq("policy_id", policy_id)
        .eq("status", status.map(|s| s.as_str().to_owned()))
        .page(
            sql,
            &format!("{COLUMNS} FROM claims"),
            page,
            Row::into_claim,
            |c| &c.id,
        )
        .await
}

/// Moves a claim to `to` if it is in one of `to`'s source states; returns whether it did.
pub async fn transition(sql: &mut Sql<'_>, id: &str, to: ClaimStatus, now: i64) -> Result<bool> {
    let sources = ClaimStatus::sources_of(to);
    if sources.is_empty() {
        return Ok(false);
    }
    let q = format!(
        "UPDATE claims SET status = ?, updated_at = ? WHERE id = ? AND status IN ({})",
        placeholders(sources.len())
    );
    let mut stmt = db::query(sqlx::AssertSqlSafe(q))
        .bind(to.as_str())
        .bind(now)
        .bind(id);
    for s in sources {
        stmt = stmt.bind(s.as_str());
    }
    Ok(sql.execute(stmt).await? == 1)
}
