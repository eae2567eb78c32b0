//! Values parsed once at the edge, so the rest of the code never re-checks them. Each parse names
//! the field at fault, which becomes the `field` of a 422 problem.

use chrono::NaiveDate;

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

/// Free text with a trimmed length between `min` and `max` characters.
pub fn text(field: &str, s: &str, min: usize, max: usize) -> Result<String> {
    let t = s.trim();
    let n = t.chars().count();
    if n < min || n > max {
        return Err(Error::validation(
            field,
            format!("must be {min} to {max} characters"),
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(t.to_owned())
}

/// An e-mail address, kept lower-case so uniqueness does not depend on case.
pub fn email(field: &str, s: &str) -> Result<String> {
    let e = s.trim().to_lowercase();
    let valid = e.len() <= 254
        && match e.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !e.chars().any(|c| c.is_whitespace() || c.is_control())
                    && !domain.contains('@')
            }
            None => false,
        };
    if valid {
        Ok(e)
    } else {
        Err(Error::validation(field, "must be an e-mail address"))
    }
}

/// A calendar date from input: years 1 to 9999 only, so it stores as exactly `YYYY-MM-DD`
/// (chrono also reads `+10000-01-01` and `-0001-01-01`, which would not sort or fit).
pub fn date(field: &str, d: NaiveDate) -> Result<NaiveDate> {
    if (1..=9999).contains(&chrono::Datelike::year(&d)) {
        Ok(d)
    } else {
        Err(Error::validation(
            field,
            "the year must be between 1 and 9999",
        ))
    }
}

/// Dates are stored as `YYYY-MM-DD`, which sorts and compares as text on both engines.
pub fn date_to_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub fn date_from_text(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| Error::Internal(format!("stored date `{s}`: {e}")))
}

pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

pub fn instant(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Parses a record id from a path or body: a UUID, so junk never reaches SQL. A malformed id
/// cannot name a record, hence 404 rather than 400.
pub fn record_id(s: &str, what: &'static str) -> Result<String> {
    uuid::Uuid::parse_str(s)
        .map(|u| u.to_string())
        .map_err(|_| Error::NotFound(what))
}

/// Like `record_id`, for an id inside a body: a bad one is the body's fault (422 on the field).
pub fn reference(field: &str, s: &str) -> Result<String> {
    uuid::Uuid::parse_str(s)
        .map(|u| u.to_string())
        .map_err(|_| Error::validation(field, "must be the id (UUID) of an existing record"))
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
    fn emails() {
        assert_eq!(email("e", " A@B.io ").ok().as_deref(), Some("a@b.io"));
        for bad in ["a", "a@b", "@b.io", "a@.io", "a b@c.io", "a@b.io."] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_outside_four_digit_years_are_refused() {
        let far = NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap_or_default();
        assert!(date("d", far).is_err());
        let ok = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
        assert_eq!(
            date("d", ok).ok().map(date_to_text).as_deref(),
            Some("2026-01-01")
        );
    }

    #[test]
    fn currency_shape() {
        assert!(Currency::parse("c", "EUR").is_ok());
        assert!(Currency::parse("c", "eur").is_err());
        assert!(Currency::parse("c", "EURO").is_err());
    }
}
