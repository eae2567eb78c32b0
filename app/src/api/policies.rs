use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{
    ApiTags,
    body::JsonBody,
    errors::{BODY, CONFLICT, NOT_FOUND, Problems},
    headers, page,
    rendered::Rendered,
};
use crate::{
    api::ctx::TenantCtx,
    domain::{
        policy::{Policy, PolicyChanges, PolicyStatus},
        scalars::{Date, Id},
        text::Text,
    },
    observer::PolicyEvent,
    platform::error::Error,
    services::{
        self,
        policies::{Bound, Idempotency},
    },
    state::AppState,
};

/// Binding options.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct BindQuote {
    /// Free text kept on the policy: up to 2,000 characters.
    pub notes: Option<Text<0, 2000>>,
}

/// Changes to an open (bound or active) policy; at least one field.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    /// New last day of cover: after the effective date (else 422).
    pub expiry_date: Option<Date>,
    /// Replaces the notes: up to 2,000 characters.
    pub notes: Option<Text<0, 2000>>,
}

/// Why a policy is cancelled.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CancelPolicy {
    /// 1 to 500 characters.
    pub reason: Text<1, 500>,
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

/// What makes two binds "the same request": the quote and the body, hashed.
fn fingerprint(quote_id: &str, body: &BindQuote) -> String {
    let mut h = Sha256::new();
    h.update(quote_id.as_bytes());
    h.update([0]);
    let notes = body.notes.as_ref().map(ToString::to_string);
    h.update(notes.as_deref().unwrap_or_default().as_bytes());
    h.update([u8::from(body.notes.is_some())]);
    hex::encode(h.finalize())
}

pub struct PoliciesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Policies")]
impl PoliciesApi {
    /// Bind a quote into a policy
    ///
    /// The quote must be quoted and not past `valid_until` (else 409 `quote_expired` or
    /// `quote_already_bound`), and its cover must not have started (else 409 `cover_started`). With an `Idempotency-Key`, a retry with the same body returns the
    /// same policy (200); the same key with another body gets 422 on `Idempotency-Key`.
    #[oai(path = "/quotes/:id/bind", method = "post", operation_id = "bindQuote")]
    async fn bind(
        &self,
        ctx: TenantCtx,
        state: Data<&Arc<AppState>>,
        /// The quote's id.
        id: Path<Id>,
        /// Makes retries safe: 1 to 255 visible ASCII characters, unique per bind.
        #[oai(
            name = "Idempotency-Key",
            validator(min_length = 1, max_length = 255, pattern = r"^[\x21-\x7E]+$")
        )]
        idempotency_key: Header<Option<String>>,
        body: JsonBody<BindQuote>,
        req: &poem::Request,
    ) -> Result<BindResponse, Problems<{ NOT_FOUND | CONFLICT | BODY }>> {
        headers::readable(req, "Idempotency-Key")?;
        let quote_id = id.0.into_string();
        let idem = idempotency_key
            .0
            .map(|key| Idempotency::new(&key, fingerprint(&quote_id, &body.0)));
        let notes = body.0.notes.map(Text::into_string);
        let rules = state.insurance.underwriting();
        Ok(
            match services::policies::bind(&ctx.db, &rules, &quote_id, notes, idem).await? {
                Bound::Created(p) => {
                    ctx.observer.committed(PolicyEvent::Bound(&p)).await;
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
        insured_id: Query<Option<Id>>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<Id>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<page::PageOf<Policy>>, Problems<0>> {
        let page = page::request(cursor.0, limit.0);
        let insured_id = insured_id.0.map(Id::into_string);
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
        cursor: Query<Option<Id>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Rendered<page::PageOf<crate::domain::policy::ActivePolicy>>, Problems<0>> {
        let page = page::request(cursor.0, limit.0);
        let memo = services::policies::active(&ctx.db, &ctx.cache, &page).await?;
        Ok(Rendered::of(&memo, |page| page.clone().into()))
    }

    /// Search policies
    ///
    /// Finds the policies whose number, insured's name and e-mail, notes or status contain every
    /// word of `q` as a word prefix (`ada love` finds Ada Lovelace's), newest first. The index
    /// follows each change within a moment. A `q` with no letter or digit finds nothing. On
    /// MariaDB, words shorter than 3 characters are not indexed.
    #[oai(
        path = "/policies/search",
        method = "get",
        operation_id = "searchPolicies"
    )]
    async fn search(
        &self,
        ctx: TenantCtx,
        /// The words to find (letters and digits; anything else separates words; 8 at most).
        #[oai(validator(min_length = 1, max_length = 200))]
        q: Query<String>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<Id>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<page::PageOf<Policy>>, Problems<0>> {
        let terms = services::search::terms(&q.0);
        let page = page::request(cursor.0, limit.0);
        Ok(Json(
            services::search::search(&ctx.db, &terms, &page)
                .await?
                .into(),
        ))
    }

    /// Get a policy
    #[oai(path = "/policies/:id", method = "get", operation_id = "getPolicy")]
    async fn get(
        &self,
        ctx: TenantCtx,
        #[doc = "The policy's id."] id: Path<Id>,
    ) -> Result<Rendered<Policy>, Problems<{ NOT_FOUND }>> {
        let memo = services::policies::get(&ctx.db, &ctx.cache, id.as_str()).await?;
        Ok(Rendered::of(&memo, Policy::clone))
    }

    /// Update an open policy
    ///
    /// A cancelled or expired policy gets 409 `policy_closed`. The term may be shortened, but
    /// an `expiry_date` not after the effective date or in the past gets 422, and a later one
    /// 409 `extension_needs_rerating` (a longer term is a new risk: quote it again).
    #[oai(
        path = "/policies/:id",
        method = "patch",
        operation_id = "updatePolicy"
    )]
    async fn update(
        &self,
        ctx: TenantCtx,
        /// The policy's id.
        id: Path<Id>,
        body: JsonBody<UpdatePolicy>,
    ) -> Result<Json<Policy>, Problems<{ NOT_FOUND | CONFLICT | BODY }>> {
        let b = body.0;
        if b.expiry_date.is_none() && b.notes.is_none() {
            return Err(Error::validation("body", "name at least one field to change").into());
        }
        let changes = PolicyChanges {
            expiry_date: b.expiry_date,
            notes: b.notes.map(Text::into_string),
        };
        let policy = services::policies::update(&ctx.db, id.as_str(), changes).await?;
        ctx.observer.committed(PolicyEvent::Changed(&policy)).await;
        Ok(Json(policy))
    }

    /// Activate a bound policy
    ///
    /// Any other status gets 409 `invalid_policy_transition`.
    #[oai(
        path = "/policies/:id/activate",
        method = "post",
        operation_id = "activatePolicy"
    )]
    async fn activate(
        &self,
        ctx: TenantCtx,
        #[doc = "The policy's id."] id: Path<Id>,
    ) -> Result<Json<Policy>, Problems<{ NOT_FOUND | CONFLICT }>> {
        let policy =
            services::policies::move_to(&ctx.db, id.as_str(), PolicyStatus::Active, None).await?;
        ctx.observer.committed(PolicyEvent::Moved(&policy)).await;
        Ok(Json(policy))
    }

    /// Cancel a bound or active policy
    ///
    /// Any other status gets 409 `invalid_policy_transition`.
    #[oai(
        path = "/policies/:id/cancel",
        method = "post",
        operation_id = "cancelPolicy"
    )]
    async fn cancel(
        &self,
        ctx: TenantCtx,
        /// The policy's id.
        id: Path<Id>,
        body: JsonBody<CancelPolicy>,
    ) -> Result<Json<Policy>, Problems<{ NOT_FOUND | CONFLICT | BODY }>> {
        let reason = body.0.reason.into_string();
        let cancelled = PolicyStatus::Cancelled;
        let policy =
            services::policies::move_to(&ctx.db, id.as_str(), cancelled, Some(&reason)).await?;
        ctx.observer.committed(PolicyEvent::Moved(&policy)).await;
        Ok(Json(policy))
    }

    /// Expire an active policy
    ///
    /// Only once its expiry date has passed (else 409 `policy_not_due`); a sweep every
    /// EXPIRY_SWEEP_SECS does it anyway. Any other status gets 409 `invalid_policy_transition`.
    #[oai(
        path = "/policies/:id/expire",
        method = "post",
        operation_id = "expirePolicy"
    )]
    async fn expire(
        &self,
        ctx: TenantCtx,
        #[doc = "The policy's id."] id: Path<Id>,
    ) -> Result<Json<Policy>, Problems<{ NOT_FOUND | CONFLICT }>> {
        let policy =
            services::policies::move_to(&ctx.db, id.as_str(), PolicyStatus::Expired, None).await?;
        ctx.observer.committed(PolicyEvent::Moved(&policy)).await;
        Ok(Json(policy))
    }
}
