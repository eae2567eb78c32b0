//! Idempotency keys of bind: key → (hash of the request, the policy it made).

use crate::{
    platform::db::{self, Sql},
    platform::error::Result,
};

#[derive(sqlx::FromRow)]
pub struct Recorded {
    pub request_hash: String,
    pub policy_id: String,
}

pub async fn get(sql: &mut Sql<'_>, key: &str) -> Result<Option<Recorded>> {
    sql.optional(
        db::query_as::<Recorded>(
            "SELECT request_hash, policy_id FROM idempotency_keys WHERE idem_key = ?",
        )
        .bind(key),
    )
    .await
}

/// Records the key; a concurrent bind with the same key makes this a unique violation.
pub async fn insert(
    sql: &mut Sql<'_>,
    key: &str,
    request_hash: &str,
    policy_id: &str,
    now: i64,
) -> Result<()> {
    sql.execute(
        db::query(
            "INSERT INTO idempotency_keys (idem_key, request_hash, policy_id, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(key)
        .bind(request_hash)
        .bind(policy_id)
        .bind(now),
    )
    .await?;
    Ok(())
}
