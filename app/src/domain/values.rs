//! Values parsed once at the edge, so the rest of the code never re-checks them. Each parse names
//! the field at fault, which becomes the `field` of a 422 problem.

use std::{fmt, str::FromStr};

use poem_openapi::registry::MetaSchema;

use super::scalars::{Date, string_scalar};
use crate::platform::error::{Error, Result};

/// Money in minor units (cents). The ceiling keeps sums far from i64 overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money(i64);

pub const MONEY_MAX: i64 = 1_000_000_000_000;

impl Money {
    pub fn parse(field: &str, minor: i64, allow_zero: bool) -> Result<Money> {
        let floor = if allow_zero { 0 } else { 1 };
        if (floor..=MONEY_MAX).contains(&minor) {
            Ok(Money(minor))
        } else {
            Err(Error::validation(
                field,
                format!("must be between {floor} and {MONEY_MAX} minor units"),
            ))
        }
    }

    pub fn minor(self) -> i64 {
        self.0
    }
}

/// A currency in circulation: an ISO 4217 code (iso_currency's table of the standard), less
/// funds (`BOV`), special codes (`XAU`, `XXX`, `XTS`) and superseded ones. The document lists
/// them as the `Currency` schema's `enum`, one schema every field refers to (so a generated
/// client has one type for it), so a client cannot send one the server refuses, and no client
/// can add a `currency` label value to the payment metrics at will.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    pub fn as_str(&self) -> &'static str {
        self.0.code()
    }

    fn circulating(c: iso_currency::Currency) -> bool {
        c.flags().is_empty()
    }

    /// Every code the service takes, in the standard's order.
    pub fn all() -> impl Iterator<Item = &'static str> {
        use iso_currency::IntoEnumIterator;
        iso_currency::Currency::iter()
            .filter(|c| Currency::circulating(*c))
            .map(|c| c.code())
    }
}

impl FromStr for Currency {
    type Err = &'static str;

    fn from_str(s: &str) -> std::result::Result<Currency, Self::Err> {
        iso_currency::Currency::from_code(s)
            .filter(|c| Currency::circulating(*c))
            .map(Currency)
            .ok_or("must be the ISO 4217 code of a currency in circulation, such as EUR")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

string_scalar!(
    component[] Currency,
    "Currency",
    MetaSchema {
        description: Some("ISO 4217 code of a currency in circulation, e.g. `EUR`."),
        enum_items: Currency::all().map(serde_json::Value::from).collect(),
        ..MetaSchema::new("string")
    }
);

/// Dates are stored as `YYYY-MM-DD`, which sorts and compares as text on both engines.
pub fn date_to_text(d: Date) -> String {
    d.to_string()
}

pub fn date_from_text(s: &str) -> Result<Date> {
    s.parse()
        .map_err(|e| Error::Internal(format!("stored date `{s}`: {e}")))
}

pub fn today() -> Date {
    Date::today()
}

pub fn instant(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_bounds() {
        assert!(Money::parse("a", 0, false).is_err());
        assert!(Money::parse("a", 0, true).is_ok());
        assert!(Money::parse("a", MONEY_MAX + 1, true).is_err());
    }

    #[test]
    fn currencies_in_circulation_only() {
        for ok in ["EUR", "USD", "JPY", "CHF"] {
            assert_eq!(ok.parse::<Currency>().map(|c| c.as_str()), Ok(ok));
        }
        for bad in ["eur", "EURO", "ZZZ", "XXX", "XTS", "XAU", "BOV", ""] {
            assert!(bad.parse::<Currency>().is_err(), "{bad}");
        }
        assert!(Currency::all().count() > 150);
    }
}
