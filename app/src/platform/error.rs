//! The one error type. Each variant documents the HTTP status it becomes; every one of them is
//! rendered as RFC 9457 `application/problem+json` by `http::problem`. Database constraint
//! violations are mapped here, engine-free (sqlx reports the same `ErrorKind` on SQLite and
//! MariaDB), so a duplicate is a 409 and never a 500.

use sqlx::{error::ErrorKind, mysql::MySqlDatabaseError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request cannot be read at all (malformed JSON, bad cursor, bad parameter).
    #[error("{detail}")]
    BadRequest {
        field: Option<String>,
        detail: String,
    },

    /// 401: Kong's consumer headers are missing: the request did not come through the gateway.
    #[error("{0}")]
    Unauthenticated(String),

    /// 403: the consumer's tenant is unknown or suspended.
    #[error("{0}")]
    Forbidden(String),

    /// 404: no such record in the caller's tenant (other tenants' records are never found).
    #[error("{0} not found")]
    NotFound(&'static str),

    /// 409: the record is not in a state that allows this (bind an expired quote, pay a cancelled
    /// policy, ...) or a unique value is taken. `code` is machine-readable.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },

    /// 413: the body is larger than MAX_BODY_BYTES.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),

    /// 415: a body, or an uploaded file (`field`), is of a type the operation does not take.
    #[error("{detail}")]
    UnsupportedMediaType { field: String, detail: String },

    /// 422: the request is well-formed but a field's value is not acceptable.
    #[error("{field}: {detail}")]
    Validation { field: String, detail: String },

    /// 422: an Idempotency-Key was reused with another request body.
    #[error("Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,

    /// 429 with `Retry-After`: the caller holds as many of `what` as it may at once.
    #[error("too many {what} open at once; retry in {} s", retry_after.as_secs().max(1))]
    TooMany {
        what: String,
        retry_after: std::time::Duration,
    },

    /// 503: a dependency is down (readiness, pool exhausted).
    #[error("{0}")]
    Unavailable(String),

    /// 503 with `Retry-After`: a circuit breaker is open in front of `what` (a partner, the
    /// document store); calls fail at once until it lets a probe through.
    #[error("{what} is unavailable; retry in {} s", retry_after.as_secs().max(1))]
    CircuitOpen {
        what: String,
        retry_after: std::time::Duration,
    },

    /// 500: configuration is unusable (start-up only; never reached by a request's input).
    #[error("configuration: {0}")]
    Config(String),

    /// 500: a database failure that is not the caller's fault.
    #[error("database: {0}")]
    Database(sqlx::Error),

    /// 500: a migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// 500: anything else that is ours to fix (I/O on the data folder, ...).
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Validation {
            field: field.into(),
            detail: detail.into(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn bad_request(field: Option<&str>, detail: impl Into<String>) -> Self {
        Error::BadRequest {
            field: field.map(str::to_owned),
            detail: detail.into(),
        }
    }

    /// The error of a load several callers shared (moka's single flight hands each an
    /// `Arc<Error>`): the same status for a busy dependency, else an internal error saying
    /// `what` failed.
    pub fn shared(err: &Error, what: &str) -> Error {
        match err {
            Error::Unavailable(m) => Error::Unavailable(m.clone()),
            Error::CircuitOpen { what, retry_after } => Error::CircuitOpen {
                what: what.clone(),
                retry_after: *retry_after,
            },
            other => Error::Internal(format!("{what}: {other}")),
        }
    }

    /// The seconds a 503 asks the client to wait (`Retry-After`), when known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::CircuitOpen { retry_after, .. } | Error::TooMany { retry_after, .. } => {
                Some(retry_after.as_secs().max(1))
            }
            _ => None,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest { .. } => 400,
            Error::Unauthenticated(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::Conflict { .. } => 409,
            Error::PayloadTooLarge(_) => 413,
            Error::UnsupportedMediaType { .. } => 415,
            Error::Validation { .. } | Error::IdempotencyMismatch => 422,
            Error::TooMany { .. } => 429,
            Error::Unavailable(_) | Error::CircuitOpen { .. } => 503,
            Error::Config(_) | Error::Database(_) | Error::Migrate(_) | Error::Internal(_) => 500,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        let busy = || Error::Unavailable("database busy, try again".into());
        match &err {
            sqlx::Error::RowNotFound => Error::NotFound("record"),
            // The database is unreachable or shutting down: the client may retry elsewhere.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => busy(),
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => Error::conflict(
                    "duplicate",
                    "a record with this unique value already exists",
                ),
                ErrorKind::ForeignKeyViolation => {
                    Error::validation("reference", "refers to a record that does not exist")
                }
                ErrorKind::NotNullViolation | ErrorKind::CheckViolation => {
                    Error::validation("body", db.message().to_owned())
                }
                // A value too long for its column (SQLSTATE 22001): input the checks let through.
                _ if db.code().as_deref() == Some("22001") => {
                    Error::validation("body", "a value is too long")
                }
                // SQLite busy/locked, a deadlock (SQLSTATE 40001), a MariaDB lock wait timeout
                // (1205) or too many connections (1040): the client may retry.
                _ if matches!(db.code().as_deref(), Some("5" | "6" | "517" | "40001"))
                    || matches!(
                        db.try_downcast_ref::<MySqlDatabaseError>()
                            .map(|m| m.number()),
                        Some(1205 | 1040)
                    ) =>
                {
                    busy()
                }
                _ => Error::Database(err),
            },
            _ => Error::Database(err),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::Internal(format!("i/o: {err}"))
    }
}
