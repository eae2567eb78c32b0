//! `failed_jobs` in the landlord database: jobs that used up their tries, for an operator to
//! read, retry or forget (`policy-service queue failed …`).

use crate::{
    platform::db::{self, Db, now_ms},
    platform::error::{Error, Result},
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailedJob {
    pub id: String,
    pub tenant: String,
    pub job_type: String,
    pub queue: String,
    pub payload: String,
    pub error: String,
    pub attempts: i32,
    pub failed_at: i64,
}

impl FailedJob {
    pub fn new(
        id: &str,
        tenant: &str,
        job_type: &str,
        queue: &str,
        payload: &str,
        error: &str,
        attempts: u32,
    ) -> FailedJob {
        FailedJob {
            id: id.to_owned(),
            tenant: tenant.to_owned(),
            job_type: job_type.to_owned(),
            queue: queue.to_owned(),
            payload: payload.to_owned(),
            // An error message is for a person; a long one is cut so a row stays small.
            error: error.chars().take(2000).collect(),
            attempts: i32::try_from(attempts).unwrap_or(i32::MAX),
            failed_at: now_ms(),
        }
    }
}

/// Records a failed job; recording it twice keeps the first row.
pub async fn record(db: &Db, job: &FailedJob) -> Result<()> {
    let mut conn = db.conn().await?;
    let inserted = conn
        .sql()
        .execute(
            db::query(
                "INSERT INTO failed_jobs (id, tenant, job_type, queue, payload, error, attempts, \
                 failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(job.id.clone())
            .bind(job.tenant.clone())
            .bind(job.job_type.clone())
            .bind(job.queue.clone())
            .bind(job.payload.clone())
            .bind(job.error.clone())
            .bind(job.attempts)
            .bind(job.failed_at),
        )
        .await;
    match inserted {
        Ok(_) | Err(Error::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

const COLUMNS: &str = "id, tenant, job_type, queue, payload, error, attempts, failed_at";

/// Newest first.
pub async fn list(db: &Db, limit: u32) -> Result<Vec<FailedJob>> {
    let mut conn = db.conn().await?;
    let sql = format!("SELECT {COLUMNS} FROM failed_jobs ORDER BY failed_at DESC, id LIMIT ?");
    conn.sql()
        .all(db::query_as::<FailedJob>(sqlx::AssertSqlSafe(sql)).bind(i64::from(limit)))
        .await
}

pub async fn get(db: &Db, id: &str) -> Result<Option<FailedJob>> {
    let mut conn = db.conn().await?;
    let sql = format!("SELECT {COLUMNS} FROM failed_jobs WHERE id = ?");
    conn.sql()
        .optional(db::query_as::<FailedJob>(sqlx::AssertSqlSafe(sql)).bind(id.to_owned()))
        .await
}

/// Whether there was such a row.
pub async fn forget(db: &Db, id: &str) -> Result<bool> {
    let mut conn = db.conn().await?;
    let deleted = conn
        .sql()
        .execute(db::query("DELETE FROM failed_jobs WHERE id = ?").bind(id.to_owned()))
        .await?;
    Ok(deleted > 0)
}

pub async fn count(db: &Db) -> Result<i64> {
    let mut conn = db.conn().await?;
    conn.sql()
        .scalar(db::query_scalar::<i64>("SELECT COUNT(*) FROM failed_jobs"))
        .await
}
