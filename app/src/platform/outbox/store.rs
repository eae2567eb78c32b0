//! The outbox table (migrations/platform/…_outbox.sql): events written in the transaction of
//! their change, read back in order by the relay, stamped when sent, pruned after.

use super::Event;
use crate::{
    platform::db::{self, Sql},
    platform::error::{Error, Result},
};

pub async fn insert(sql: &mut Sql<'_>, event: &Event) -> Result<()> {
    sql.execute(
        db::query(
            "INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, \
             traceparent, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(event.id.clone())
        .bind(event.aggregate_type.clone())
        .bind(event.aggregate_id.clone())
        .bind(event.event_type.clone())
        .bind(event.payload.to_string())
        .bind(event.traceparent.clone())
        .bind(event.created_at),
    )
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    aggregate_type: String,
    aggregate_id: String,
    event_type: String,
    payload: String,
    traceparent: Option<String>,
    created_at: i64,
}

/// The oldest `limit` events not sent yet, oldest first.
pub async fn unsent(sql: &mut Sql<'_>, limit: u32) -> Result<Vec<Event>> {
    let rows = sql
        .all(
            db::query_as::<Row>(
                "SELECT id, aggregate_type, aggregate_id, event_type, payload, traceparent, \
                 created_at FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ?",
            )
            .bind(i64::from(limit)),
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Event {
                id: r.id,
                aggregate_type: r.aggregate_type,
                aggregate_id: r.aggregate_id,
                event_type: r.event_type,
                payload: serde_json::from_str(&r.payload)
                    .map_err(|e| Error::Internal(format!("outbox payload: {e}")))?,
                traceparent: r.traceparent,
                created_at: r.created_at,
            })
        })
        .collect()
}

pub async fn mark_sent(sql: &mut Sql<'_>, id: &str, now: i64) -> Result<()> {
    sql.execute(
        db::query("UPDATE outbox SET sent_at = ? WHERE id = ?")
            .bind(now)
            .bind(id),
    )
    .await?;
    Ok(())
}

/// Takes (or renews) the tenant's relay lease for `holder` until `until`; whether it holds it.
pub async fn lease(sql: &mut Sql<'_>, holder: &str, now: i64, until: i64) -> Result<bool> {
    let taken = sql
        .execute(
            db::query(
                "UPDATE outbox_relay SET holder = ?, until_ms = ? \
                 WHERE id = 1 AND (holder = ? OR holder IS NULL OR until_ms < ?)",
            )
            .bind(holder)
            .bind(until)
            .bind(holder)
            .bind(now),
        )
        .await?;
    Ok(taken == 1)
}

/// Gives the lease back, if `holder` has it.
pub async fn release(sql: &mut Sql<'_>, holder: &str) -> Result<()> {
    sql.execute(
        db::query(
            "UPDATE outbox_relay SET holder = NULL, until_ms = 0 WHERE id = 1 AND holder = ?",
        )
        .bind(holder),
    )
    .await?;
    Ok(())
}

/// Whether any event waits to be sent.
pub async fn any_unsent(sql: &mut Sql<'_>) -> Result<bool> {
    let first = sql
        .optional(db::query_as::<(String,)>(
            "SELECT id FROM outbox WHERE sent_at IS NULL LIMIT 1",
        ))
        .await?;
    Ok(first.is_some())
}

/// Deletes events sent before `before`; how many.
pub async fn prune(sql: &mut Sql<'_>, before: i64) -> Result<u64> {
    sql.execute(db::query("DELETE FROM outbox WHERE sent_at < ?").bind(before))
        .await
}

/// When the oldest unsent event was written, if any.
pub async fn oldest_unsent(sql: &mut Sql<'_>) -> Result<Option<i64>> {
    sql.scalar(db::query_scalar::<Option<i64>>(
        "SELECT MIN(created_at) FROM outbox WHERE sent_at IS NULL",
    ))
    .await
}
