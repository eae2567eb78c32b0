//! SQL on the landlord database's `tenants` table.

use super::{DatabaseName, Tenant, TenantStatus};
use crate::{
    platform::db::{self, Db, now_ms},
    platform::error::{Error, Result},
};

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    slug: String,
    name: String,
    database_name: String,
    status: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for Tenant {
    type Error = Error;

    fn try_from(r: Row) -> Result<Tenant> {
        let status = match r.status.as_str() {
            "active" => TenantStatus::Active,
            "suspended" => TenantStatus::Suspended,
            other => {
                return Err(Error::Internal(format!(
                    "tenant {} has status `{other}`",
                    r.slug
                )));
            }
        };
        Ok(Tenant {
            id: r.id,
            slug: r.slug,
            name: r.name,
            database: DatabaseName::parse(&r.database_name)?,
            status,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const COLUMNS: &str = "id, slug, name, database_name, status, created_at, updated_at";

pub async fn insert(db: &Db, t: &Tenant) -> Result<()> {
    let mut conn = db.conn().await?;
    conn.sql()
        .execute(
            db::query(
                "INSERT INTO tenants (id, slug, name, database_name, status, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&t.id)
            .bind(&t.slug)
            .bind(&t.name)
            .bind(t.database.as_str())
            .bind(t.status.as_str())
            .bind(t.created_at)
            .bind(t.updated_at),
        )
        .await?;
    Ok(())
}

pub async fn by_slug(db: &Db, slug: &str) -> Result<Option<Tenant>> {
    let mut conn = db.conn().await?;
    let sql = format!("SELECT {COLUMNS} FROM tenants WHERE slug = ?");
    let row = conn
        .sql()
        .optional(db::query_as::<Row>(sqlx::AssertSqlSafe(sql)).bind(slug))
        .await?;
    row.map(Tenant::try_from).transpose()
}

pub async fn list(db: &Db, status: Option<TenantStatus>) -> Result<Vec<Tenant>> {
    let mut conn = db.conn().await?;
    let sql = match status {
        Some(_) => format!("SELECT {COLUMNS} FROM tenants WHERE status = ? ORDER BY slug"),
        None => format!("SELECT {COLUMNS} FROM tenants ORDER BY slug"),
    };
    let mut q = db::query_as::<Row>(sqlx::AssertSqlSafe(sql));
    if let Some(s) = status {
        q = q.bind(s.as_str());
    }
    conn.sql()
        .all(q)
        .await?
        .into_iter()
        .map(Tenant::try_from)
        .collect()
}

pub async fn set_status(db: &Db, slug: &str, status: TenantStatus) -> Result<Tenant> {
    let mut conn = db.conn().await?;
    let changed = conn
        .sql()
        .execute(
            db::query("UPDATE tenants SET status = ?, updated_at = ? WHERE slug = ?")
                .bind(status.as_str())
                .bind(now_ms())
                .bind(slug),
        )
        .await?;
    drop(conn);
    if changed == 0 {
        return Err(Error::NotFound("tenant"));
    }
    by_slug(db, slug).await?.ok_or(Error::NotFound("tenant"))
}
