//! An insured: the person or business a quote and its policy cover.

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use super::scalars::Date;

/// A person or business that can be quoted and insured.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Insured {
    /// Record id (UUID v7).
    pub id: String,
    /// Name as given, trimmed.
    pub full_name: String,
    /// Lower-cased; unique within the tenant.
    pub email: String,
    /// Date of birth, when known.
    pub date_of_birth: Option<Date>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A checked request to create an insured.
#[derive(Debug)]
pub struct NewInsured {
    pub full_name: String,
    pub email: String,
    pub date_of_birth: Option<Date>,
}
