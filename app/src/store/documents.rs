//! Document rows. A row is written before its object and removed after it (see `documents`), so
//! `status` says how far that got: `pending`, `stored`, `deleting`. Reads see `stored` only.

use super::{Filter, Page, PageRequest};
use crate::{
    domain::{
        document::{Document, DocumentType},
        values::instant,
    },
    platform::db::{self, Sql},
    platform::documents::content::{StorageClass, Visibility},
    platform::error::{Error, Result},
};

/// A document row whatever its status: what the object store needs to find its object.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub id: String,
    pub policy_id: String,
    pub claim_id: Option<String>,
    pub kind: String,
    pub visibility: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub storage_class: String,
    pub created_at: i64,
}

impl Row {
    /// The API's view; `url` is filled in by the caller, who knows where public objects live.
    pub fn into_document(self) -> Result<Document> {
        let storage_class = match self.storage_class.as_str() {
            "STANDARD" => StorageClass::Standard,
            "STANDARD_IA" => StorageClass::StandardIa,
            "GLACIER" => StorageClass::Glacier,
            other => return Err(Error::Internal(format!("stored storage class `{other}`"))),
        };
        Ok(Document {
            kind: DocumentType::parse_stored(&self.kind)?,
            visibility: Visibility::parse_stored(&self.visibility)?,
            storage_class,
            id: self.id,
            policy_id: self.policy_id,
            claim_id: self.claim_id,
            filename: self.filename,
            content_type: self.content_type,
            size_bytes: self.size_bytes,
            sha256: self.sha256,
            url: None,
            created_at: instant(self.created_at),
        })
    }
}

const COLUMNS: &str = "id, policy_id, claim_id, kind, visibility, filename, content_type, \
                       size_bytes, sha256, storage_class, created_at";

/// A new row, `pending` until its object is written.
pub async fn insert_pending(sql: &mut Sql<'_>, row: &Row) -> Result<()> {
    sql.execute(
        db::query(
            "INSERT INTO documents (id, policy_id, claim_id, kind, visibility, status, filename, \
             content_type, size_bytes, sha256, storage_class, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(&row.policy_id)
        .bind(row.claim_id.clone())
        .bind(&row.kind)
        .bind(&row.visibility)
        .bind(&row.filename)
        .bind(&row.content_type)
        .bind(row.size_bytes)
        .bind(&row.sha256)
        .bind(&row.storage_class)
        .bind(row.created_at)
        .bind(row.created_at),
    )
    .await?;
    Ok(())
}

/// Moves a row from `from` to `to`; returns whether it was in `from`.
pub async fn mark(sql: &mut Sql<'_>, id: &str, from: &str, to: &str, now: i64) -> Result<bool> {
    let moved = sql
        .execute(
            db::query(
                "UPDATE documents SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
            )
            .bind(to)
            .bind(now)
            .bind(id)
            .bind(from),
        )
        .await?;
    Ok(moved == 1)
}

/// A policy's stored private documents (its claims' too) not yet in the archive class.
pub async fn to_archive(sql: &mut Sql<'_>, policy_id: &str) -> Result<Vec<Row>> {
    let q = format!(
        "SELECT {COLUMNS} FROM documents WHERE policy_id = ? AND status = 'stored' \
         AND visibility = 'private' AND storage_class <> 'GLACIER' ORDER BY id"
    );
    sql.all(db::query_as::<Row>(sqlx::AssertSqlSafe(q)).bind(policy_id.to_owned()))
        .await
}

/// Records that a stored document's object is in the archive class now.
pub async fn archived(sql: &mut Sql<'_>, id: &str, now: i64) -> Result<()> {
    sql.execute(
        db::query("UPDATE documents SET storage_class = 'GLACIER', updated_at = ? WHERE id = ?")
            .bind(now)
            .bind(id),
    )
    .await?;
    Ok(())
}

pub async fn remove(sql: &mut Sql<'_>, id: &str) -> Result<()> {
    sql.execute(db::query("DELETE FROM documents WHERE id = ?").bind(id))
        .await?;
    Ok(())
}

/// A stored document by id.
pub async fn get(sql: &mut Sql<'_>, id: &str) -> Result<Option<Row>> {
    let q = format!("SELECT {COLUMNS} FROM documents WHERE id = ? AND status = 'stored'");
    sql.optional(db::query_as::<Row>(sqlx::AssertSqlSafe(q)).bind(id.to_owned()))
        .await
}

/// One page of a policy's or a claim's stored documents, newest first.
pub async fn list(
    sql: &mut Sql<'_>,
    column: Owner,
    owner_id: &str,
    page: &PageRequest,
) -> Result<Page<Row>> {
    let column = match column {
        Owner::Policy => "policy_id",
        Owner::Claim => "claim_id",
    };
    Filter::default()
        .eq(column, Some(owner_id.to_owned()))
        .eq("status", Some("stored".to_owned()))
        .page(
            sql,
            &format!("{COLUMNS} FROM documents"),
            page,
            Ok,
            |r: &Row| r.id.as_str(),
        )
        .await
}

#[derive(Debug, Clone, Copy)]
pub enum Owner {
    Policy,
    Claim,
}

/// Rows an upload or a delete left behind: `pending` since before `pending_before`, or
/// `deleting` since before `deleting_before`. At most `limit`.
pub async fn unfinished(
    sql: &mut Sql<'_>,
    pending_before: i64,
    deleting_before: i64,
    limit: u32,
) -> Result<Vec<Row>> {
    let q = format!(
        "SELECT {COLUMNS} FROM documents WHERE (status = 'pending' AND updated_at < ?) \
         OR (status = 'deleting' AND updated_at < ?) ORDER BY updated_at LIMIT {limit}"
    );
    sql.all(
        db::query_as::<Row>(sqlx::AssertSqlSafe(q))
            .bind(pending_before)
            .bind(deleting_before),
    )
    .await
}
