use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde::Deserialize;

use super::{
    ApiTags, Created,
    body::JsonBody,
    errors::{BODY, CONFLICT, NOT_FOUND, Problems},
    page,
};
use crate::{
    api::ctx::TenantCtx,
    domain::{
        claim::{Claim, ClaimStatus, NewClaim},
        scalars::{Date, Id},
        text::Text,
        values::Money,
    },
    observer::PolicyEvent,
    platform::error::{Error, Result},
    services,
};

/// A new claim.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateClaim {
    /// One of the caller's policies (else 422) whose cover began: active, or cancelled or
    /// expired for an incident before it ended (else 409 `policy_not_active`).
    pub policy_id: Id,
    /// Within the cover, from the effective date to the earlier of the expiry and the
    /// cancellation, and not in the future (else 422).
    pub incident_date: Date,
    /// 1 to 4,000 characters.
    pub description: Text<1, 4000>,
    /// In minor units: 1 up to the policy's total coverage limit (else 422).
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000000")))]
    pub amount_claimed_minor: i64,
}

/// A claim's next status: open → in_review → approved | rejected → closed.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct ClaimStatusChange {
    pub status: ClaimStatus,
}

impl TryFrom<CreateClaim> for NewClaim {
    type Error = Error;

    fn try_from(b: CreateClaim) -> Result<NewClaim> {
        Ok(NewClaim {
            policy_id: b.policy_id.into_string(),
            incident_date: b.incident_date,
            description: b.description.into_string(),
            amount_claimed: Money::parse("amount_claimed_minor", b.amount_claimed_minor, false)?,
        })
    }
}

pub struct ClaimsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Claims")]
impl ClaimsApi {
    /// Open a claim on a policy, for a loss inside its cover
    #[oai(path = "/claims", method = "post", operation_id = "createClaim")]
    async fn create(
        &self,
        ctx: TenantCtx,
        body: JsonBody<CreateClaim>,
    ) -> Result<Created<Claim>, Problems<{ CONFLICT | BODY }>> {
        let claim = services::claims::create(&ctx.db, body.0.try_into()?).await?;
        ctx.observer
            .committed(PolicyEvent::ClaimOpened(&claim))
            .await;
        Ok(Created::new(claim))
    }

    /// List claims, newest first
    #[oai(path = "/claims", method = "get", operation_id = "listClaims")]
    async fn list(
        &self,
        ctx: TenantCtx,
        /// Only this policy's claims.
        policy_id: Query<Option<Id>>,
        /// Only claims in this status.
        status: Query<Option<ClaimStatus>>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<Id>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<page::PageOf<Claim>>, Problems<0>> {
        let page = page::request(cursor.0, limit.0);
        let policy_id = policy_id.0.map(Id::into_string);
        Ok(Json(
            services::claims::list(&ctx.db, policy_id, status.0, &page)
                .await?
                .into(),
        ))
    }

    /// Get a claim
    #[oai(path = "/claims/:id", method = "get", operation_id = "getClaim")]
    async fn get(
        &self,
        ctx: TenantCtx,
        #[doc = "The claim's id."] id: Path<Id>,
    ) -> Result<Json<Claim>, Problems<{ NOT_FOUND }>> {
        Ok(Json(services::claims::get(&ctx.db, id.as_str()).await?))
    }

    /// Move a claim to its next status
    ///
    /// Illegal moves (e.g. open → approved) get 409 `invalid_claim_transition`.
    #[oai(
        path = "/claims/:id/status",
        method = "post",
        operation_id = "changeClaimStatus"
    )]
    async fn change_status(
        &self,
        ctx: TenantCtx,
        #[doc = "The claim's id."] id: Path<Id>,
        body: JsonBody<ClaimStatusChange>,
    ) -> Result<Json<Claim>, Problems<{ NOT_FOUND | CONFLICT | BODY }>> {
        let claim = services::claims::move_to(&ctx.db, id.as_str(), body.0.status).await?;
        ctx.observer
            .committed(PolicyEvent::ClaimMoved(&claim))
            .await;
        Ok(Json(claim))
    }
}
