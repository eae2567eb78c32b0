use std::collections::HashMap;

use super::{Filter, Page, PageRequest, bind_all, into_page};
use crate::{
    domain::{
        quote::{Coverage, NewQuote, Product, Quote, read_status},
        values::{date_from_text, date_to_text, instant, new_id, today},
    },
    platform::db::{self, Sql, placeholders},
    platform::error::{Error, Result},
};

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    insured_id: String,
    product: String,
    currency: String,
    premium_minor: i64,
    status: String,
    valid_until: String,
    effective_date: String,
    expiry_date: String,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct CoverageRow {
    quote_id: String,
    code: String,
    limit_minor: i64,
    deductible_minor: i64,
    premium_minor: i64,
}

fn product_from(s: &str) -> Result<Product> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| Error::Internal(format!("stored product `{s}`")))
}

fn product_text(p: Product) -> &'static str {
    match p {
        Product::Auto => "auto",
        Product::Home => "home",
        Product::Travel => "travel",
        Product::Life => "life",
    }
}

impl Row {
    fn into_quote(self, coverages: Vec<Coverage>) -> Result<Quote> {
        let valid_until = date_from_text(&self.valid_until)?;
        Ok(Quote {
            product: product_from(&self.product)?,
            status: read_status(self.status == "bound", valid_until, today()),
            valid_until,
            effective_date: date_from_text(&self.effective_date)?,
            expiry_date: date_from_text(&self.expiry_date)?,
            id: self.id,
            insured_id: self.insured_id,
            currency: self.currency,
            premium_minor: self.premium_minor,
            coverages,
            created_at: instant(self.created_at),
            updated_at: instant(self.updated_at),
        })
    }
}

const COLUMNS: &str = "id, insured_id, product, currency, premium_minor, status, valid_until, \
                       effective_date, expiry_date, created_at, updated_at FROM quotes";

/// Inserts the quote and its coverages; run it in a transaction.
pub async fn insert(sql: &mut Sql<'_>, id: &str, q: &NewQuote, now: i64) -> Result<()> {
    sql.execute(
        db::query(
            "INSERT INTO quotes (id, insured_id, product, currency, premium_minor, status, \
             valid_until, effective_date, expiry_date, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, 'quoted', ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(&q.insured_id)
        .bind(product_text(q.product))
        .bind(q.currency.as_str())
        .bind(q.premium_minor())
        .bind(date_to_text(q.valid_until))
        .bind(date_to_text(q.effective_date))
        .bind(date_to_text(q.expiry_date))
        .bind(now)
        .bind(now),
    )
    .await?;
    for (position, c) in q.coverages.iter().enumerate() {
        sql.execute(
            db::query(
                "INSERT INTO coverages (id, quote_id, position, code, limit_minor, deductible_minor, \
                 premium_minor) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(new_id())
            .bind(id)
            .bind(position as i64)
            .bind(&c.code)
            .bind(c.limit.minor())
            .bind(c.deductible.minor())
            .bind(c.premium.minor()),
        )
        .await?;
    }
    Ok(())
}

/// The coverages of many quotes in one statement, in their quoted order.
pub async fn coverages_for(
    sql: &mut Sql<'_>,
    quote_ids: &[&str],
) -> Result<HashMap<String, Vec<Coverage>>> {
    let mut by_quote: HashMap<String, Vec<Coverage>> = HashMap::new();
    if quote_ids.is_empty() {
        return Ok(by_quote);
    }
    let q = format!(
        "SELECT quote_id, code, limit_minor, deductible_minor, premium_minor FROM coverages \
         WHERE quote_id IN ({}) ORDER BY quote_id, position",
        placeholders(quote_ids.len())
    );
    let stmt = bind_all(
        db::query_as::<CoverageRow>(sqlx::AssertSqlSafe(q)),
        quote_ids.iter().copied(),
    );
    for r in sql.all(stmt).await? {
        by_quote.entry(r.quote_id).or_default().push(Coverage {
            code: r.code,
            limit_minor: r.limit_minor,
            deductible_minor: r.deductible_minor,
            premium_minor: r.premium_minor,
        });
    }
    Ok(by_quote)
}

pub async fn get(sql: &mut Sql<'_>, id: &str) -> Result<Option<Quote>> {
    let Some(row): Option<Row> = super::by_id(sql, COLUMNS, id).await? else {
        return Ok(None);
    };
    let mut coverages = coverages_for(sql, &[id]).await?;
    row.into_quote(coverages.remove(id).unwrap_or_default())
        .map(Some)
}

pub async fn list(
    sql: &mut Sql<'_>,
    insured_id: Option<String>,
    page: &PageRequest,
) -> Result<Page<Quote>> {
    let rows: Vec<Row> = Filter::default()
        .eq("insured_id", insured_id)
        .rows(sql, COLUMNS, "id", page)
        .await?;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut coverages = coverages_for(sql, &ids).await?;
    let items = rows
        .into_iter()
        .map(|r| {
            let c = coverages.remove(&r.id).unwrap_or_default();
            r.into_quote(c)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(into_page(items, page, |q| &q.id))
}

/// Marks a quote bound if it is still quoted and valid on `today`. Returns whether it did: the
/// condition in the UPDATE is the lock (SQLite has no SELECT … FOR UPDATE).
pub async fn mark_bound(sql: &mut Sql<'_>, id: &str, now: i64) -> Result<bool> {
    let changed = sql
        .execute(
            db::query(
                "UPDATE quotes SET status = 'bound', updated_at = ? \
                 WHERE id = ? AND status = 'quoted' AND valid_until >= ?",
            )
            .bind(now)
            .bind(id)
            .bind(date_to_text(today())),
        )
        .await?;
    Ok(changed == 1)
}
