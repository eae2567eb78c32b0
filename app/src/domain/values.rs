//! Values parsed once at the edge, so the rest of the code never re-checks them. Each parse names
//! the field at fault, which becomes the `field` of a 422 problem.

use super::scalars::Date;
use crate::error::{Error, Result};

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

/// An ISO 4217 code: three upper-case letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    pub fn parse(field: &str, s: &str) -> Result<Currency> {
        if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(s.to_owned()))
        } else {
            Err(Error::validation(
                field,
                "must be an ISO 4217 code such as EUR",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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
    fn currency_shape() {
        assert!(Currency::parse("c", "EUR").is_ok());
        assert!(Currency::parse("c", "eur").is_err());
        assert!(Currency::parse("c", "EURO").is_err());
    }
}
