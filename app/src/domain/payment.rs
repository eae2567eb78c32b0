//! A payment received on a policy.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::values::{Currency, Money};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Card,
    BankTransfer,
    DirectDebit,
}

#[derive(Debug, Clone, Object)]
pub struct Payment {
    pub id: String,
    pub policy_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub method: PaymentMethod,
    /// The payer's or processor's reference.
    pub reference: Option<String>,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct NewPayment {
    pub policy_id: String,
    pub amount: Money,
    pub currency: Currency,
    pub method: PaymentMethod,
    pub reference: Option<String>,
}
