//! The policy search index: one document per policy in `policy_search`, an FTS5 table on SQLite
//! and a FULLTEXT-indexed table on MariaDB (migrations/tenant-sqlite, tenant-mariadb). The two
//! engines spell the statements apart; the rest of the service sees one index.

use crate::{
    platform::db::{self, Sql},
    platform::error::Result,
};

/// What a policy is found by.
pub struct Document<'a> {
    pub policy_id: &'a str,
    pub number: &'a str,
    pub insured_name: &'a str,
    pub email: &'a str,
    pub notes: Option<&'a str>,
    pub status: &'a str,
}

/// Writes (or rewrites) a policy's document.
pub async fn put(sql: &mut Sql<'_>, d: &Document<'_>) -> Result<()> {
    if sql.is_sqlite() {
        // FTS5 has no upsert.
        remove(sql, d.policy_id).await?;
    }
    let verb = if sql.is_sqlite() { "INSERT" } else { "REPLACE" };
    let q = format!(
        "{verb} INTO policy_search (policy_id, number, insured_name, email, notes, status) \
         VALUES (?, ?, ?, ?, ?, ?)"
    );
    sql.execute(
        db::query(sqlx::AssertSqlSafe(q))
            .bind(d.policy_id.to_owned())
            .bind(d.number.to_owned())
            .bind(d.insured_name.to_owned())
            .bind(d.email.to_owned())
            .bind(d.notes.map(str::to_owned))
            .bind(d.status.to_owned()),
    )
    .await?;
    Ok(())
}

pub async fn remove(sql: &mut Sql<'_>, policy_id: &str) -> Result<()> {
    sql.execute(
        db::query("DELETE FROM policy_search WHERE policy_id = ?").bind(policy_id.to_owned()),
    )
    .await?;
    Ok(())
}

/// Ids of the policies whose document has every term as a word prefix, newest first, after the
/// id `after`, `limit` at most. `terms` are letters and digits only (the caller's parse), so
/// they cannot break either engine's query syntax.
pub async fn find(
    sql: &mut Sql<'_>,
    terms: &[String],
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<String>> {
    let (matching, query) = if sql.is_sqlite() {
        let q = terms
            .iter()
            .map(|t| format!("\"{t}\"*"))
            .collect::<Vec<_>>()
            .join(" AND ");
        ("policy_search MATCH ?", q)
    } else {
        let q = terms
            .iter()
            .map(|t| format!("+{t}*"))
            .collect::<Vec<_>>()
            .join(" ");
        (
            "MATCH (number, insured_name, email, notes, status) AGAINST (? IN BOOLEAN MODE)",
            q,
        )
    };
    let after_clause = if after.is_some() {
        " AND policy_id < ?"
    } else {
        ""
    };
    let q = format!(
        "SELECT policy_id FROM policy_search WHERE {matching}{after_clause} \
         ORDER BY policy_id DESC LIMIT ?"
    );
    let mut stmt = db::query_as::<(String,)>(sqlx::AssertSqlSafe(q)).bind(query);
    if let Some(after) = after {
        stmt = stmt.bind(after.to_owned());
    }
    let rows = sql.all(stmt.bind(i64::from(limit))).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
