use super::{Filter, Page, PageRequest};
use crate::{
    domain::{
        insured::Insured,
        scalars::Date,
        values::{date_from_text, date_to_text, instant},
    },
    platform::db::{self, Sql},
    platform::error::Result,
};

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    full_name: String,
    email: String,
    date_of_birth: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    fn into_insured(self) -> Result<Insured> {
        Ok(Insured {
            date_of_birth: self
                .date_of_birth
                .as_deref()
                .map(date_from_text)
                .transpose()?,
            id: self.id,
            full_name: self.full_name,
            email: self.email,
            created_at: instant(self.created_at),
            updated_at: instant(self.updated_at),
        })
    }
}

const COLUMNS: &str = "id, full_name, email, date_of_birth, created_at, updated_at FROM insureds";

pub async fn insert(
    sql: &mut Sql<'_>,
    id: &str,
    full_name: &str,
    email: &str,
    date_of_birth: Option<Date>,
    now: i64,
) -> Result<()> {
    sql.execute(
        db::query(
            "INSERT INTO insureds (id, full_name, email, date_of_birth, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(full_name)
        .bind(email)
        .bind(date_of_birth.map(date_to_text))
        .bind(now)
        .bind(now),
    )
    .await?;
    Ok(())
}

pub async fn get(sql: &mut Sql<'_>, id: &str) -> Result<Option<Insured>> {
    let row: Option<Row> = super::by_id(sql, COLUMNS, id).await?;
    row.map(Row::into_insured).transpose()
}

pub async fn exists(sql: &mut Sql<'_>, id: &str) -> Result<bool> {
    let n: i64 = sql
        .scalar(db::query_scalar("SELECT COUNT(*) FROM insureds WHERE id = ?").bind(id))
        .await?;
    Ok(n > 0)
}

pub async fn list(
    sql: &mut Sql<'_>,
    email: Option<String>,
    page: &PageRequest,
) -> Result<Page<Insured>> {
    Filter::default()
        .eq("email", email)
        .page(sql, COLUMNS, page, Row::into_insured, |i| &i.id)
        .await
}
