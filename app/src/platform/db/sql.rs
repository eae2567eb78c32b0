//! Statements and the connection they run on.
//!
//! `Stmt`, `StmtAs` and `StmtScalar` are sqlx's three query kinds with their SQL text kept beside
//! them: sqlx gives the text back only by consuming the query, and the span of a statement needs
//! it (its name, `SELECT policies`, and `db.query.text`). The text is always the parameterised
//! statement, never a bound value, so a span cannot leak a name or an e-mail.
//!
//! `Sql` runs them: each of its four methods counts the statement and runs it inside a client
//! span named `{operation} {table}` with `db.system.name`, `db.operation.name`,
//! `db.collection.name` and `db.query.text`, a child of the request's server span, bounded by
//! `STATEMENT_TIMEOUT`. A failed statement's span is marked as an error.

use std::{
    future::Future,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use sqlx::{
    Any, AnyConnection, Encode, FromRow, SqlSafeStr, SqlStr, Type,
    any::{AnyArguments, AnyRow},
    query::{Query, QueryAs, QueryScalar},
};
use tracing::{Instrument, Span, field::Empty};

use crate::platform::error::{Error, Result};

/// A statement that returns no rows (or whose rows are not wanted).
pub struct Stmt<'q> {
    text: SqlStr,
    query: Query<'q, Any, AnyArguments>,
}

/// A statement whose rows decode into `T`.
pub struct StmtAs<'q, T> {
    text: SqlStr,
    query: QueryAs<'q, Any, T, AnyArguments>,
}

/// A statement that returns one value.
pub struct StmtScalar<'q, T> {
    text: SqlStr,
    query: QueryScalar<'q, Any, T, AnyArguments>,
}

pub fn query<'q>(text: impl SqlSafeStr) -> Stmt<'q> {
    let text = text.into_sql_str();
    Stmt {
        query: sqlx::query(text.clone()),
        text,
    }
}

pub fn query_as<'q, T>(text: impl SqlSafeStr) -> StmtAs<'q, T>
where
    T: for<'r> FromRow<'r, AnyRow>,
{
    let text = text.into_sql_str();
    StmtAs {
        query: sqlx::query_as(text.clone()),
        text,
    }
}

pub fn query_scalar<'q, T>(text: impl SqlSafeStr) -> StmtScalar<'q, T>
where
    (T,): for<'r> FromRow<'r, AnyRow>,
{
    let text = text.into_sql_str();
    StmtScalar {
        query: sqlx::query_scalar(text.clone()),
        text,
    }
}

macro_rules! bindable {
    ($ty:ident $(<$t:ident>)?) => {
        impl<'q $(, $t)?> $ty<'q $(, $t)?> {
            pub fn bind<V: 'q + Send + Encode<'q, Any> + Type<Any>>(self, value: V) -> Self {
                $ty {
                    text: self.text,
                    query: self.query.bind(value),
                }
            }
        }
    };
}

bindable!(Stmt);
bindable!(StmtAs<T>);
bindable!(StmtScalar<T>);

/// A connection borrowed for a few statements.
pub struct Sql<'c> {
    conn: &'c mut AnyConnection,
    statements: &'c AtomicU64,
    system: &'static str,
}

impl<'c> Sql<'c> {
    /// Whether this is SQLite (else MariaDB): for the few statements the engines spell apart.
    pub fn is_sqlite(&self) -> bool {
        self.system == "sqlite"
    }

    pub(super) fn new(
        conn: &'c mut AnyConnection,
        statements: &'c AtomicU64,
        system: &'static str,
    ) -> Sql<'c> {
        Sql {
            conn,
            statements,
            system,
        }
    }

    /// Counts the statement and opens its span: under the current one, or none when there is
    /// no current span (a background recount, a CLI command), which would otherwise make each
    /// statement a trace of its own.
    fn start(&self, text: &SqlStr) -> Span {
        self.statements.fetch_add(1, Ordering::Relaxed);
        let text = text.as_str();
        let (operation, table) = summary(text);
        // The statement rate by kind: the statements are the code's, so the labels are bounded.
        metrics::counter!(
            "db_statements_total",
            "operation" => operation.to_ascii_uppercase(),
            "table" => table.to_owned()
        )
        .increment(1);
        if Span::current().is_none() {
            return Span::none();
        }
        tracing::info_span!(
            "sql",
            otel.name = %format_args!("{operation} {table}"),
            otel.kind = "client",
            otel.status_code = Empty,
            db.system.name = self.system,
            db.operation.name = operation,
            db.collection.name = table,
            db.query.text = text,
        )
    }

    pub async fn all<T>(&mut self, q: StmtAs<'_, T>) -> Result<Vec<T>>
    where
        T: Send + Unpin + for<'r> FromRow<'r, AnyRow>,
    {
        let span = self.start(&q.text);
        bounded(&span, q.query.fetch_all(&mut *self.conn)).await
    }

    pub async fn optional<T>(&mut self, q: StmtAs<'_, T>) -> Result<Option<T>>
    where
        T: Send + Unpin + for<'r> FromRow<'r, AnyRow>,
    {
        let span = self.start(&q.text);
        bounded(&span, q.query.fetch_optional(&mut *self.conn)).await
    }

    pub async fn scalar<T>(&mut self, q: StmtScalar<'_, T>) -> Result<T>
    where
        T: Send + Unpin,
        (T,): for<'r> FromRow<'r, AnyRow>,
    {
        let span = self.start(&q.text);
        bounded(&span, q.query.fetch_one(&mut *self.conn)).await
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn execute(&mut self, q: Stmt<'_>) -> Result<u64> {
        let span = self.start(&q.text);
        let done = bounded(&span, q.query.execute(&mut *self.conn)).await;
        done.map(|d| d.rows_affected())
    }
}

/// The longest a statement may take. A database that stalls (a network partition, a hung
/// server) would otherwise hold the request, and its connection, until TCP gives up, minutes
/// later; past this it is unavailable (503) and the connection is discarded. Migrations do not
/// run through here, so a long ALTER is not cut.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a statement in its span, bounded by STATEMENT_TIMEOUT; a failure (a constraint, a lost
/// connection, the timeout) marks the span as an error.
async fn bounded<T>(
    span: &Span,
    run: impl Future<Output = std::result::Result<T, sqlx::Error>>,
) -> Result<T> {
    let result = answered(run.instrument(span.clone())).await;
    if result.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    result
}

/// Waits for the database's answer (a statement, a BEGIN, a COMMIT) at most STATEMENT_TIMEOUT.
pub(super) async fn answered<T>(
    run: impl Future<Output = std::result::Result<T, sqlx::Error>>,
) -> Result<T> {
    match tokio::time::timeout(STATEMENT_TIMEOUT, run).await {
        Ok(done) => Ok(done?),
        Err(_) => {
            metrics::counter!("db_statement_timeouts_total").increment(1);
            tracing::warn!(
                seconds = STATEMENT_TIMEOUT.as_secs(),
                "the database did not answer in time: treated as unavailable"
            );
            Err(Error::Unavailable(
                "the database did not answer in time".into(),
            ))
        }
    }
}

/// The operation and the table a statement works on, for the span's name: `SELECT policies`.
/// Good enough for the statements this service writes; anything else reads `? ?`.
fn summary(text: &str) -> (&str, &str) {
    let mut words = text.split_ascii_whitespace();
    let operation = words.next().unwrap_or("?");
    let after = match operation.to_ascii_uppercase().as_str() {
        "SELECT" | "DELETE" => "FROM",
        "INSERT" | "REPLACE" => "INTO",
        "UPDATE" => return (operation, words.next().map_or("?", table_name)),
        _ => return (operation, "?"),
    };
    let table = words
        .skip_while(|w| !w.eq_ignore_ascii_case(after))
        .nth(1)
        .map_or("?", table_name);
    (operation, table)
}

fn table_name(word: &str) -> &str {
    word.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn statements_are_named_by_operation_and_table() {
        for (text, expected) in [
            (
                "SELECT id, status FROM policies WHERE id = ?",
                ("SELECT", "policies"),
            ),
            ("INSERT INTO claims (id) VALUES (?)", ("INSERT", "claims")),
            (
                "UPDATE quotes SET status = ? WHERE id = ?",
                ("UPDATE", "quotes"),
            ),
            (
                "DELETE FROM `tenants` WHERE slug = ?",
                ("DELETE", "tenants"),
            ),
            ("SELECT 1", ("SELECT", "?")),
            ("", ("?", "?")),
        ] {
            assert_eq!(summary(text), expected, "{text}");
        }
    }
}
