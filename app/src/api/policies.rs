use chrono::NaiveDate;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{ApiTags, body::JsonBody, page};
use crate::{
    domain::{
        policy::{Policy, PolicyChanges, PolicyStatus},
        values::{date, record_id, text},
    },
    error::{Error, Result},
    gateway::TenantCtx,
    observability,
    services::{
        self,
        policies::{Bound, Idempotency},
    },
};

/// Binding options.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct BindQuote {
    /// Free text kept on the policy: up to 2,000 characters.
    #[oai(validator(max_length = 2000))]
    pub notes: Option<String>,
}

/// Changes to an open (bound or active) policy; at least one field.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    /// New last day of cover: after the effective date.
    pub expiry_date: Option<NaiveDate>,
    /// Replaces the notes: up to 2,000 characters.
    #[oai(validator(max_length = 2000))]
    pub notes: Option<String>,
}

/// Why a policy is cancelled.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CancelPolicy {
    /// 1 to 500 characters.
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

#[derive(ApiResponse)]
pub enum BindResponse {
    /// The quote is bound; this is the new policy.
    #[oai(status = 201)]
    Created(Json<Policy>),
    /// The same Idempotency-Key and body were seen before; this is the policy that request made.
    #[oai(status = 200)]
    Replayed(Json<Policy>),
}

fn notes(notes: Option<String>) -> Result<Option<String>> {
    notes.map(|n| text("notes", &n, 0, 2000)).transpose()
}

/// What makes two binds "the same request": the quote and the body, hashed.
fn fingerprint(quote_id: &str, body: &BindQuote) -> String {
    let mut h = Sha256::new();
    h.update(quote_id.as_bytes());
    h.update([0]);
    h.update(body.notes.as_deref().unwrap_or_default().as_bytes());
    h.update([u8::from(body.notes.is_some())]);
    hex::encode(h.finalize())
}

pub struct PoliciesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Policies")]
impl PoliciesApi {
    /// Bind a quote into a policy
    ///
    /// The quote must be quoted and not past `valid_until` (else 409). With an `Idempotency-Key`,
    /// a retry with the same body returns the same policy (200); the same key with another body
    /// gets 422.
    #[oai(path = "/quotes/:id/bind", method = "post", operation_id = "bindQuote")]
    async fn bind(
        &self,
        ctx: TenantCtx,
        /// The quote's id.
        id: Path<String>,
        /// Makes retries safe: 1 to 255 characters, unique per bind.
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255))]
        idempotency_key: Header<Option<String>>,
        body: JsonBody<BindQuote>,
    ) -> Result<BindResponse> {
        let quote_id = record_id(&id, "quote")?;
        let idem = idempotency_key
            .0
            .map(|key| Idempotency::new(&key, fingerprint(&quote_id, &body.0)));
        let notes = notes(body.0.notes)?;
        Ok(
            match services::policies::bind(&ctx.db, &quote_id, notes, idem).await? {
                Bound::Created(p) => {
                    observability::policy_bound(&ctx.tenant.slug);
                    BindResponse::Created(Json(p))
                }
                Bound::Replayed(p) => BindResponse::Replayed(Json(p)),
            },
        )
    }

    /// List policies, newest first
    #[oai(path = "/policies", method = "get", operation_id = "listPolicies")]
    async fn list(
        &self,
        ctx: TenantCtx,
        /// Only policies in this status.
        status: Query<Option<PolicyStatus>>,
        /// Only this insured's policies.
        insured_id: Query<Option<String>>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<page::PageOf<Policy>>> {
        let page = page::request(cursor.0, limit.0)?;
        let insured_id = super::filter_id("insured_id", insured_id.0)?;
        Ok(Json(
            services::policies::list(&ctx.db, status.0, insured_id, &page)
                .await?
                .into(),
        ))
    }

    /// List active policies with their insured, coverages, last payment and claims count
    ///
    /// Four SQL statements whatever the page size.
    #[oai(
        path = "/policies/active",
        method = "get",
        operation_id = "listActivePolicies"
    )]
    async fn active(
        &self,
        ctx: TenantCtx,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<page::PageOf<crate::domain::policy::ActivePolicy>>> {
        let page = page::request(cursor.0, limit.0)?;
        Ok(Json(
            services::policies::active(&ctx.db, &page).await?.into(),
        ))
    }

    /// Get a policy
    #[oai(path = "/policies/:id", method = "get", operation_id = "getPolicy")]
    async fn get(
        &self,
        ctx: TenantCtx,
        #[doc = "The policy's id."] id: Path<String>,
    ) -> Result<Json<Policy>> {
        Ok(Json(
            services::policies::get(&ctx.db, &record_id(&id, "policy")?).await?,
        ))
    }

    /// Update an open policy
    #[oai(
        path = "/policies/:id",
        method = "patch",
        operation_id = "updatePolicy"
    )]
    async fn update(
        &self,
        ctx: TenantCtx,
        /// The policy's id.
        id: Path<String>,
        body: JsonBody<UpdatePolicy>,
    ) -> Result<Json<Policy>> {
        let id = record_id(&id, "policy")?;
        let b = body.0;
        if b.expiry_date.is_none() && b.notes.is_none() {
            return Err(Error::validation(
                "body",
                "name at least one field to change",
            ));
        }
        let changes = PolicyChanges {
            expiry_date: b.expiry_date.map(|d| date("expiry_date", d)).transpose()?,
            notes: notes(b.notes)?,
        };
        Ok(Json(
            services::policies::update(&ctx.db, &id, changes).await?,
        ))
    }

    /// Activate a bound policy
    #[oai(
        path = "/policies/:id/activate",
        method = "post",
        operation_id = "activatePolicy"
    )]
    async fn activate(
        &self,
        ctx: TenantCtx,
        #[doc = "The policy's id."] id: Path<String>,
    ) -> Result<Json<Policy>> {
        let id = record_id(&id, "policy")?;
        // Marked whatever the outcome: a failure after the UPDATE may still have moved it.
        let moved = services::policies::move_to(&ctx.db, &id, PolicyStatus::Active, None).await;
        observability::statuses::changed(&ctx.tenant.slug);
        Ok(Json(moved?))
    }

    /// Cancel a bound or active policy
    #[oai(
        path = "/policies/:id/cancel",
        method = "post",
        operation_id = "cancelPolicy"
    )]
    async fn cancel(
        &self,
        ctx: TenantCtx,
        /// The policy's id.
        id: Path<String>,
        body: JsonBody<CancelPolicy>,
    ) -> Result<Json<Policy>> {
        let id = record_id(&id, "policy")?;
        let reason = text("reason", &body.0.reason, 1, 500)?;
        let moved =
            services::policies::move_to(&ctx.db, &id, PolicyStatus::Cancelled, Some(&reason)).await;
        observability::statuses::changed(&ctx.tenant.slug);
        Ok(Json(moved?))
    }

    /// Expire an active policy
    #[oai(
        path = "/policies/:id/expire",
        method = "post",
        operation_id = "expirePolicy"
    )]
    async fn expire(
        &self,
        ctx: TenantCtx,
        #[doc = "The policy's id."] id: Path<String>,
    ) -> Result<Json<Policy>> {
        let id = record_id(&id, "policy")?;
        let moved = services::policies::move_to(&ctx.db, &id, PolicyStatus::Expired, None).await;
        observability::statuses::changed(&ctx.tenant.slug);
        Ok(Json(moved?))
    }
}
