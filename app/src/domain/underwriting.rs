//! The underwriting rules a carrier insists on, in one place. Each answers with the field at
//! fault (422) when the request itself is wrong, or a `code` (409) when the record's state or
//! the calendar forbids it:
//!
//! - cover starts today or later (less `backdate_days`, default 0), and runs at most
//!   `max_term_days` (default three years);
//! - a quote is offered until at most its effective date: cover cannot be bought once it began;
//!   binding after the effective date is refused for the same reason (`cover_started`);
//! - a claim is for an incident inside the cover, from the effective date to the earlier of the
//!   expiry and the cancellation, not in the future, and for at most the policy's total limit;
//! - a policy expires only once its expiry date has passed (`policy_not_due`); a sweep expires
//!   the due ones;
//! - a change may shorten a term, never into the past, but not extend it: a longer term is a
//!   new risk to rate (`extension_needs_rerating`).

use super::scalars::Date;
use crate::platform::error::{Error, Result};

/// The limits operators set (UNDERWRITING_BACKDATE_DAYS, UNDERWRITING_MAX_TERM_DAYS).
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub backdate_days: u64,
    pub max_term_days: u64,
}

impl Rules {
    /// The earliest effective date accepted on `today`.
    fn earliest_start(&self, today: Date) -> Date {
        today.minus_days(self.backdate_days)
    }

    /// A new quote's dates; `valid_until` is already defaulted.
    pub fn quote(
        &self,
        today: Date,
        effective: Date,
        expiry: Date,
        valid_until: Date,
    ) -> Result<()> {
        if effective < self.earliest_start(today) {
            return Err(Error::validation(
                "effective_date",
                match self.backdate_days {
                    0 => "must be today or later".to_owned(),
                    n => format!("must be at most {n} days before today"),
                },
            ));
        }
        if expiry <= effective {
            return Err(Error::validation(
                "expiry_date",
                "must be after effective_date",
            ));
        }
        if expiry > effective.plus_days(self.max_term_days) {
            return Err(Error::validation(
                "expiry_date",
                format!("the term may be at most {} days", self.max_term_days),
            ));
        }
        if valid_until < today {
            return Err(Error::validation("valid_until", "must be today or later"));
        }
        if valid_until > effective.max(today) {
            return Err(Error::validation(
                "valid_until",
                "must be on or before effective_date: cover cannot be bought once it began",
            ));
        }
        Ok(())
    }

    /// Binding a quote whose cover starts on `effective`.
    pub fn bind(&self, today: Date, effective: Date) -> Result<()> {
        if effective < self.earliest_start(today) {
            return Err(Error::conflict(
                "cover_started",
                format!("cover was to start on {effective}: quote again"),
            ));
        }
        Ok(())
    }
}

/// The last day a policy covers: its expiry, or the day it was cancelled if earlier.
pub fn cover_end(expiry: Date, ended: Option<Date>) -> Date {
    ended.map_or(expiry, |e| e.min(expiry))
}

/// A claim's incident date and amount against the policy's cover and total limit.
pub fn claim(
    today: Date,
    incident: Date,
    cover: (Date, Date),
    amount_minor: i64,
    limit_minor: i64,
) -> Result<()> {
    if incident > today {
        return Err(Error::validation(
            "incident_date",
            "must not be in the future",
        ));
    }
    if incident < cover.0 || incident > cover.1 {
        return Err(Error::validation(
            "incident_date",
            format!("must fall within the cover, {} to {}", cover.0, cover.1),
        ));
    }
    if amount_minor > limit_minor {
        return Err(Error::validation(
            "amount_claimed_minor",
            format!("must not exceed the policy's total limit of {limit_minor} minor units"),
        ));
    }
    Ok(())
}

/// Expiring a policy whose cover runs to `expiry`.
pub fn expire(today: Date, expiry: Date) -> Result<()> {
    if expiry >= today {
        return Err(Error::conflict(
            "policy_not_due",
            format!("the policy covers until {expiry}; it expires after that"),
        ));
    }
    Ok(())
}

/// A PATCH of the expiry date: shorter, not into the past, still after the start.
pub fn change_expiry(today: Date, effective: Date, current: Date, wanted: Date) -> Result<()> {
    if wanted <= effective {
        return Err(Error::validation(
            "expiry_date",
            "must be after the policy's effective_date",
        ));
    }
    if wanted < today {
        return Err(Error::validation("expiry_date", "must not be in the past"));
    }
    if wanted > current {
        return Err(Error::conflict(
            "extension_needs_rerating",
            "a longer term is a new risk: quote it again",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap_or_else(|_| Date::today())
    }

    const RULES: Rules = Rules {
        backdate_days: 0,
        max_term_days: 1096,
    };

    #[test]
    fn quotes_start_today_run_three_years_and_are_offered_until_cover_starts() {
        let today = d("2026-11-30");
        let ok = RULES.quote(today, d("2026-12-01"), d("2027-11-30"), d("2026-12-01"));
        assert!(ok.is_ok());
        let field = |r: Result<()>| match r {
            Err(Error::Validation { field, .. }) => field,
            other => format!("{other:?}"),
        };
        let late = |e, x, v| field(RULES.quote(today, d(e), d(x), d(v)));
        assert_eq!(
            late("2020-01-01", "2020-12-31", "2026-11-30"),
            "effective_date"
        );
        assert_eq!(
            late("2026-12-01", "2030-01-01", "2026-12-01"),
            "expiry_date"
        );
        assert_eq!(
            late("2026-12-01", "2026-12-01", "2026-12-01"),
            "expiry_date"
        );
        assert_eq!(
            late("2026-12-01", "2027-01-01", "2026-12-02"),
            "valid_until"
        );
        let backdating = Rules {
            backdate_days: 7,
            ..RULES
        };
        assert!(
            backdating
                .quote(today, d("2026-11-23"), d("2027-11-22"), today)
                .is_ok()
        );
        assert!(backdating.bind(today, d("2026-11-23")).is_ok());
        assert!(RULES.bind(today, d("2026-11-29")).is_err());
    }

    #[test]
    fn claims_fall_inside_the_cover_and_the_limit() {
        let today = d("2026-11-30");
        let cover = (
            d("2026-01-01"),
            cover_end(d("2026-12-31"), Some(d("2026-06-30"))),
        );
        assert!(claim(today, d("2026-06-30"), cover, 100, 100).is_ok());
        assert!(claim(today, d("2026-07-01"), cover, 100, 100).is_err());
        assert!(claim(today, d("2025-12-31"), cover, 100, 100).is_err());
        assert!(claim(today, d("2026-06-01"), cover, 101, 100).is_err());
    }

    #[test]
    fn terms_shorten_but_never_extend_or_reach_into_the_past() {
        let today = d("2026-11-30");
        let (start, end) = (d("2026-01-01"), d("2026-12-31"));
        assert!(change_expiry(today, start, end, d("2026-12-15")).is_ok());
        assert!(change_expiry(today, start, end, d("2026-11-29")).is_err());
        assert!(matches!(
            change_expiry(today, start, end, d("9999-12-31")),
            Err(Error::Conflict {
                code: "extension_needs_rerating",
                ..
            })
        ));
        assert!(expire(today, d("2026-11-29")).is_ok());
        assert!(expire(today, today).is_err());
    }
}
