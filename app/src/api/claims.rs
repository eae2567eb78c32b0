use chrono::NaiveDate;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde::Deserialize;

use super::{ApiTags, Created, body::JsonBody, page};
use crate::{
    domain::{
        claim::{Claim, ClaimStatus, NewClaim},
        values::{Money, date, record_id, reference, text},
    },
    error::{Error, Result},
    gateway::TenantCtx,
    observability, services,
};

/// A new claim.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateClaim {
    /// An active policy (else 409).
    #[oai(validator(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub policy_id: String,
    /// Within the policy's term, not in the future.
    pub incident_date: NaiveDate,
    /// 1 to 4,000 characters.
    #[oai(validator(min_length = 1, max_length = 4000))]
    pub description: String,
    /// In minor units: 1 to 10^12.
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
            policy_id: reference("policy_id", &b.policy_id)?,
            incident_date: date("incident_date", b.incident_date)?,
            description: text("description", &b.description, 1, 4000)?,
            amount_claimed: Money::parse("amount_claimed_minor", b.amount_claimed_minor, false)?,
        })
    }
}

pub struct ClaimsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Claims")]
impl ClaimsApi {
    /// Open a claim on an active policy
    #[oai(path = "/claims", method = "post", operation_id = "createClaim")]
    async fn create(&self, ctx: TenantCtx, body: JsonBody<CreateClaim>) -> Result<Created<Claim>> {
        let claim = services::claims::create(&ctx.db, body.0.try_into()?).await?;
        observability::claim_opened(&ctx.tenant.slug);
        Ok(Created::new(claim))
    }

    /// List claims, newest first
    #[oai(path = "/claims", method = "get", operation_id = "listClaims")]
    async fn list(
        &self,
        ctx: TenantCtx,
        /// Only this policy's claims.
        policy_id: Query<Option<String>>,
        /// Only claims in this status.
        status: Query<Option<ClaimStatus>>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<page::PageOf<Claim>>> {
        let page = page::request(cursor.0, limit.0)?;
        let policy_id = super::filter_id("policy_id", policy_id.0)?;
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
        #[doc = "The claim's id."] id: Path<String>,
    ) -> Result<Json<Claim>> {
        Ok(Json(
            services::claims::get(&ctx.db, &record_id(&id, "claim")?).await?,
        ))
    }

    /// Move a claim to its next status
    ///
    /// Illegal moves (e.g. open → approved) get 409.
    #[oai(
        path = "/claims/:id/status",
        method = "post",
        operation_id = "changeClaimStatus"
    )]
    async fn change_status(
        &self,
        ctx: TenantCtx,
        #[doc = "The claim's id."] id: Path<String>,
        body: JsonBody<ClaimStatusChange>,
    ) -> Result<Json<Claim>> {
        let id = record_id(&id, "claim")?;
        // Marked whatever the outcome: a failure after the UPDATE may still have moved it.
        let moved = services::claims::move_to(&ctx.db, &id, body.0.status).await;
        observability::statuses::changed(&ctx.tenant.slug);
        Ok(Json(moved?))
    }
}
