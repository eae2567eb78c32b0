//! SQL for one tenant's database, one module per table family. Functions take a `Sql` (a pooled
//! connection or a transaction), so a domain service decides what runs atomically.
//!
//! Lists are keyset-paginated on the id: ids are UUID v7, whose text sorts by creation time, so
//! `WHERE id < ? ORDER BY id DESC LIMIT n + 1` pages newest-first with no OFFSET scans, and the
//! extra row says whether a next page exists.

pub mod claims;
pub mod documents;
pub mod idempotency;
pub mod insureds;
pub mod payments;
pub mod policies;
pub mod quotes;
pub mod schema;
pub mod search;
pub mod statistics;

use sqlx::{Any, FromRow, any::AnyRow};

use crate::{
    platform::db::{self, Sql, StmtAs},
    platform::error::Result,
};

/// A page request: the id the previous page ended at, and the page size (already bounded).
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: u32,
}

/// One page of records, and the id to continue after when there are more.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Equality filters and a page, turned into a WHERE clause with its binds in order.
#[derive(Default)]
pub struct Filter {
    clauses: Vec<String>,
    binds: Vec<String>,
}

impl Filter {
    /// Adds `column = value` when a value is given. Columns are literals of ours, never input.
    pub fn eq(mut self, column: &'static str, value: Option<String>) -> Filter {
        if let Some(v) = value {
            self.clauses.push(format!("{column} = ?"));
            self.binds.push(v);
        }
        self
    }

    /// `SELECT {select} WHERE … ORDER BY {id_column} DESC LIMIT n+1` for a page.
    fn page_sql(
        mut self,
        select: &str,
        id_column: &str,
        page: &PageRequest,
    ) -> (String, Vec<String>) {
        if let Some(after) = &page.after {
            self.clauses.push(format!("{id_column} < ?"));
            self.binds.push(after.clone());
        }
        let filter = if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {select}{filter} ORDER BY {id_column} DESC LIMIT {}",
            page.limit + 1
        );
        (sql, self.binds)
    }

    /// The rows of one page, look-ahead row included (`into_page` cuts it off).
    pub async fn rows<R: RowOf>(
        self,
        sql: &mut Sql<'_>,
        select: &str,
        id_column: &str,
        page: &PageRequest,
    ) -> Result<Vec<R>> {
        let (q, binds) = self.page_sql(select, id_column, page);
        sql.all(bind_all(db::query_as::<R>(sqlx::AssertSqlSafe(q)), binds))
            .await
    }

    /// One page of records, each row converted by `convert`.
    pub async fn page<R: RowOf, T>(
        self,
        sql: &mut Sql<'_>,
        select: &str,
        page: &PageRequest,
        convert: impl Fn(R) -> Result<T>,
        id: impl Fn(&T) -> &str,
    ) -> Result<Page<T>> {
        let rows = self.rows(sql, select, "id", page).await?;
        let items = rows.into_iter().map(convert).collect::<Result<Vec<_>>>()?;
        Ok(into_page(items, page, id))
    }
}

/// A row type sqlx can decode from the `Any` driver.
pub trait RowOf: Send + Unpin + for<'r> FromRow<'r, AnyRow> {}
impl<R: Send + Unpin + for<'r> FromRow<'r, AnyRow>> RowOf for R {}

/// `SELECT {select} WHERE id = ?`: one record by id.
pub async fn by_id<R: RowOf>(sql: &mut Sql<'_>, select: &str, id: &str) -> Result<Option<R>> {
    let q = format!("SELECT {select} WHERE id = ?");
    sql.optional(db::query_as::<R>(sqlx::AssertSqlSafe(q)).bind(id.to_owned()))
        .await
}

/// Binds each value in order (an `IN (…)` list, or a filter's values).
pub fn bind_all<'q, T, V>(
    mut q: StmtAs<'q, T>,
    values: impl IntoIterator<Item = V>,
) -> StmtAs<'q, T>
where
    V: 'q + Send + sqlx::Encode<'q, Any> + sqlx::Type<Any>,
{
    for v in values {
        q = q.bind(v);
    }
    q
}

/// Cuts the look-ahead row off and reports where the next page starts.
pub fn into_page<T>(mut items: Vec<T>, page: &PageRequest, id: impl Fn(&T) -> &str) -> Page<T> {
    let next = if items.len() > page.limit as usize {
        items.truncate(page.limit as usize);
        items.last().map(|last| id(last).to_owned())
    } else {
        None
    };
    Page { items, next }
}
