//! The HTTP API: poem-openapi operations under `/v1`, the health probes, the spec and Swagger UI.
//! Handlers parse and check input into domain values, call a domain service with the tenant's
//! database from `TenantCtx`, and map the result; they hold no business rules of their own.

mod broadcasting;
mod claims;
pub mod ctx;
mod documents;
mod insureds;
mod links;
mod page;
mod payments;
mod policies;
mod quotes;
mod rendered;
pub mod spec;
pub mod storage;
mod upload;

// The platform's HTTP toolkit, as the handlers name it (`super::errors::FORM`, …).
pub use crate::platform::http::{body, errors, form, framing, headers, problem};

use poem_openapi::{
    ApiResponse, Tags,
    payload::Json,
    types::{ParseFromJSON, ToJSON},
};

#[derive(Tags)]
pub enum ApiTags {
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
    /// Files kept for policies and claims (object storage).
    Documents,
    /// Private channels of the Pusher-protocol socket (`/app/{key}`).
    Broadcasting,
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
