use std::collections::HashMap;

use super::{Filter, Page, PageRequest, bind_all};
use crate::{
    domain::{
        payment::{NewPayment, Payment, PaymentMethod},
        values::instant,
    },
    platform::db::{self, Sql, placeholders},
    platform::error::{Error, Result},
};

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    policy_id: String,
    amount_minor: i64,
    currency: String,
    method: String,
    reference: Option<String>,
    received_at: i64,
}

fn method_text(m: PaymentMethod) -> &'static str {
    match m {
        PaymentMethod::Card => "card",
        PaymentMethod::BankTransfer => "bank_transfer",
        PaymentMethod::DirectDebit => "direct_debit",
    }
}

impl Row {
    fn into_payment(self) -> Result<Payment> {
        let method = match self.method.as_str() {
            "card" => PaymentMethod::Card,
            "bank_transfer" => PaymentMethod::BankTransfer,
            "direct_debit" => PaymentMethod::DirectDebit,
            other => return Err(Error::Internal(format!("stored payment method `{other}`"))),
        };
        Ok(Payment {
            id: self.id,
            policy_id: self.policy_id,
            amount_minor: self.amount_minor,
            currency: self.currency,
            method,
            reference: self.reference,
            received_at: instant(self.received_at),
        })
    }
}

const COLUMNS: &str = "id, policy_id, amount_minor, currency, method, reference, received_at";

pub async fn insert(sql: &mut Sql<'_>, id: &str, p: &NewPayment, now: i64) -> Result<()> {
    sql.execute(
        db::query(
            "INSERT INTO payments (id, policy_id, amount_minor, currency, method, reference, received_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(&p.policy_id)
        .bind(p.amount.minor())
        .bind(p.currency.as_str())
        .bind(method_text(p.method))
        .bind(p.reference.clone())
        .bind(now),
    )
    .await?;
    Ok(())
}

pub async fn get(sql: &mut Sql<'_>, id: &str) -> Result<Option<Payment>> {
    let row: Option<Row> = super::by_id(sql, &format!("{COLUMNS} FROM payments"), id).await?;
    row.map(Row::into_payment).transpose()
}

pub async fn list(
    sql: &mut Sql<'_>,
    policy_id: Option<String>,
    page: &PageRequest,
) -> Result<Page<Payment>> {
    Filter::default()
        .eq("policy_id", policy_id)
        .page(
            sql,
            &format!("{COLUMNS} FROM payments"),
            page,
            Row::into_payment,
            |p| &p.id,
        )
        .await
}

/// The latest payment of each policy, in one statement (a window function; SQLite ≥ 3.25 and
/// MariaDB ≥ 10.2 both have ROW_NUMBER).
pub async fn last_for(sql: &mut Sql<'_>, policy_ids: &[&str]) -> Result<HashMap<String, Payment>> {
    let q = format!(
        "SELECT {COLUMNS} FROM (SELECT {COLUMNS}, ROW_NUMBER() OVER \
         (PARTITION BY policy_id ORDER BY received_at DESC, id DESC) AS rn \
         FROM payments WHERE policy_id IN ({})) ranked WHERE rn = 1",
        placeholders(policy_ids.len())
    );
    let stmt = bind_all(
        db::query_as::<Row>(sqlx::AssertSqlSafe(q)),
        policy_ids.iter().copied(),
    );
    sql.all(stmt)
        .await?
        .into_iter()
        .map(|r| r.into_payment().map(|p| (p.policy_id.clone(), p)))
        .collect()
}
