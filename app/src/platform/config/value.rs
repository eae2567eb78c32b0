//! Typed setting values. A duration is given in the unit its variable names (`…_MS`, `…_SECS`,
//! `…_HOURS`), as the seed's Laravel config did, and parsed once, with its bounds, into a
//! `Duration`: no subsystem converts units or clamps a zero, and a value out of bounds stops the
//! start as a usage error naming the variable (clap adds the name).

use std::{fmt, time::Duration};

/// The unit a duration setting is counted in.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    Millis,
    Secs,
    Hours,
}

impl Unit {
    fn of(self, n: u64) -> Duration {
        match self {
            Unit::Millis => Duration::from_millis(n),
            Unit::Secs => Duration::from_secs(n),
            Unit::Hours => Duration::from_secs(n.saturating_mul(3600)),
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Millis => "milliseconds",
            Unit::Secs => "seconds",
            Unit::Hours => "hours",
        })
    }
}

/// A clap value parser of a whole number of `unit`s, from `min` to `max`.
pub fn duration(
    unit: Unit,
    min: u64,
    max: u64,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        let n: u64 = text
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a whole number of {unit}"))?;
        if !(min..=max).contains(&n) {
            return Err(format!("{n} {unit} is not within {min}..={max}"));
        }
        Ok(unit.of(n))
    }
}

/// Seconds, at least one.
pub fn secs(text: &str) -> Result<Duration, String> {
    duration(Unit::Secs, 1, u64::MAX)(text)
}

/// Seconds, zero allowed (no caching, no wait).
pub fn any_secs(text: &str) -> Result<Duration, String> {
    duration(Unit::Secs, 0, u64::MAX)(text)
}

/// Milliseconds, at least one.
pub fn millis(text: &str) -> Result<Duration, String> {
    duration(Unit::Millis, 1, u64::MAX)(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_is_read_in_its_unit_within_its_bounds() {
        assert_eq!(secs("30"), Ok(Duration::from_secs(30)));
        assert_eq!(millis("250"), Ok(Duration::from_millis(250)));
        assert_eq!(
            duration(Unit::Hours, 1, 24)("2"),
            Ok(Duration::from_secs(7200))
        );
        assert!(secs("0").is_err_and(|e| e.contains("not within 1..=")));
        assert!(secs("1.5").is_err_and(|e| e.contains("whole number of seconds")));
        assert!(duration(Unit::Millis, 10, 60_000)("5").is_err());
    }
}
