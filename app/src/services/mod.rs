//! Domain services: the use cases of one tenant. Each takes that tenant's `Db` (so it cannot reach
//! another tenant's data), checks the domain rules, and decides what runs in one transaction.

pub mod claims;
pub mod documents;
pub mod insureds;
pub mod keys;
pub mod payments;
pub mod policies;
pub mod quotes;
pub mod search;
pub mod statistics;

use crate::platform::error::{Error, Result};

/// Turns "no row changed" after a guarded UPDATE into the right error: 404 if the record is gone,
/// else 409 naming the state it is in.
pub(crate) fn refuse_transition(
    current: Option<&str>,
    what: &'static str,
    code: &'static str,
    wanted: &str,
) -> Error {
    match current {
        None => Error::NotFound(what),
        Some(status) => Error::conflict(
            code,
            format!("a {what} in status {status} cannot move to {wanted}"),
        ),
    }
}

pub(crate) fn found<T>(record: Option<T>, what: &'static str) -> Result<T> {
    record.ok_or(Error::NotFound(what))
}
