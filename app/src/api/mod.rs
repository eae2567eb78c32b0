//! The HTTP API: poem-openapi operations under `/v1`, the health probes, the spec and Swagger UI.
//! Handlers parse and check input into domain values, call a domain service with the tenant's
//! database from `TenantCtx`, and map the result; they hold no business rules of their own.

pub mod allow;
mod body;
mod claims;
mod health;
mod insureds;
mod page;
mod payments;
mod policies;
pub mod problem;
mod quotes;
pub mod spec;

use poem_openapi::{
    ApiResponse, Tags,
    payload::Json,
    types::{ParseFromJSON, ToJSON},
};

use crate::error::{Error, Result};

#[derive(Tags)]
pub enum ApiTags {
    /// Liveness and readiness probes.
    Health,
    /// People and businesses that are quoted and insured.
    Insureds,
    /// Priced offers of cover.
    Quotes,
    /// Bound quotes and their life cycle.
    Policies,
    /// Money received on policies.
    Payments,
    /// Claims on active policies.
    Claims,
}

#[derive(ApiResponse)]
pub enum Created<T: ParseFromJSON + ToJSON + Send> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
}

impl<T: ParseFromJSON + ToJSON + Send> Created<T> {
    pub fn new(value: T) -> Self {
        Created::Created(Json(value))
    }
}

/// A filter on an id. One that is not a UUID can match nothing, but is more likely a client bug:
/// 400. An empty one (`?policy_id=`, as generated clients send an unset value) is no filter.
fn filter_id(param: &str, id: Option<String>) -> Result<Option<String>> {
    id.filter(|id| !id.is_empty())
        .map(|id| {
            uuid::Uuid::parse_str(&id)
                .map(|u| u.to_string())
                .map_err(|_| Error::bad_request(Some(param), "must be a record id (UUID)"))
        })
        .transpose()
}
