//! A payment received on a policy.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::values::{Currency, Money};

/// How the money arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Card,
    BankTransfer,
    DirectDebit,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Payment {
    /// Record id (UUID v7).
    pub id: String,
    /// The policy paid.
    pub policy_id: String,
    /// Amount in minor units.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000000")))]
    pub amount_minor: i64,
    /// ISO 4217 code: the policy's currency.
    #[oai(validator(pattern = "^[A-Z]{3}$"))]
    pub currency: String,
    pub method: PaymentMethod,
    /// The payer's or processor's reference.
    pub reference: Option<String>,
    /// When it was recorded.
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
