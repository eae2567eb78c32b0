//! A quote: priced coverages offered to an insured until `valid_until`. Binding it makes a policy.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::{
    scalars::Date,
    values::{Currency, Money},
};

/// The line of business quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Product {
    Auto,
    Home,
    Travel,
    Life,
}

/// `expired` is not stored: a quoted quote past its `valid_until` reads as expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum QuoteStatus {
    Quoted,
    Bound,
    Expired,
}

/// One priced coverage of a quote.
#[derive(Debug, Clone, Object)]
pub struct Coverage {
    /// Coverage code, e.g. `liability`.
    pub code: String,
    /// Most the insurer pays, in minor units.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000000")))]
    pub limit_minor: i64,
    /// What the insured pays first, in minor units.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000")))]
    pub deductible_minor: i64,
    /// This coverage's share of the premium, in minor units.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000")))]
    pub premium_minor: i64,
}

#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Quote {
    /// Record id (UUID v7).
    pub id: String,
    /// The insured it is for.
    pub insured_id: String,
    pub product: Product,
    pub status: QuoteStatus,
    /// ISO 4217 code of every amount in the quote.
    #[oai(validator(pattern = "^[A-Z]{3}$"))]
    pub currency: String,
    /// Sum of the coverages' premiums, in minor units.
    #[oai(validator(minimum(value = "1"), maximum(value = "20000000000000")))]
    pub premium_minor: i64,
    /// Last day the quote can be bound.
    pub valid_until: Date,
    /// First day of cover.
    pub effective_date: Date,
    /// Last day of cover.
    pub expiry_date: Date,
    /// The priced coverages, in the order quoted.
    pub coverages: Vec<Coverage>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed (e.g. bound).
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct NewCoverage {
    pub code: String,
    pub limit: Money,
    pub deductible: Money,
    pub premium: Money,
}

/// A checked request to create a quote.
#[derive(Debug)]
pub struct NewQuote {
    pub insured_id: String,
    pub product: Product,
    pub currency: Currency,
    pub valid_until: Date,
    pub effective_date: Date,
    pub expiry_date: Date,
    pub coverages: Vec<NewCoverage>,
}

impl NewQuote {
    pub fn premium_minor(&self) -> i64 {
        self.coverages.iter().map(|c| c.premium.minor()).sum()
    }
}

/// What a stored quote's status reads as on `today`.
pub fn read_status(stored_bound: bool, valid_until: Date, today: Date) -> QuoteStatus {
    match (stored_bound, valid_until < today) {
        (true, _) => QuoteStatus::Bound,
        (false, true) => QuoteStatus::Expired,
        (false, false) => QuoteStatus::Quoted,
    }
}
