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
    rendered::Rendered,
};
use crate::{
    api::ctx::TenantCtx,
    domain::{
        insured::{Insured, NewInsured},
        scalars::{Date, Id},
        text::{Email, Text},
        values::today,
    },
    platform::error::{Error, Result},
    services,
};

/// A new insured.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateInsured {
    /// 1 to 200 characters.
    pub full_name: Text<1, 200>,
    /// An e-mail address, unique within the tenant (compared lower-case; else 409 `duplicate`).
    pub email: Email,
    /// Before today (else 422).
    pub date_of_birth: Option<Date>,
}

impl TryFrom<CreateInsured> for NewInsured {
    type Error = Error;

    fn try_from(b: CreateInsured) -> Result<NewInsured> {
        if b.date_of_birth.is_some_and(|d| d >= today()) {
            return Err(Error::validation("date_of_birth", "must be in the past"));
        }
        Ok(NewInsured {
            full_name: b.full_name.into_string(),
            email: b.email.into_string(),
            date_of_birth: b.date_of_birth,
        })
    }
}

pub struct InsuredsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Insureds")]
impl InsuredsApi {
    /// Create an insured
    ///
    /// A second insured with the same e-mail gets 409 `duplicate`; a `date_of_birth` of today or
    /// later gets 422.
    #[oai(path = "/insureds", method = "post", operation_id = "createInsured")]
    async fn create(
        &self,
        ctx: TenantCtx,
        body: JsonBody<CreateInsured>,
    ) -> Result<Created<Insured>, Problems<{ CONFLICT | BODY }>> {
        let insured = services::insureds::create(&ctx.db, body.0.try_into()?).await?;
        Ok(Created::new(insured))
    }

    /// List insureds, newest first
    #[oai(path = "/insureds", method = "get", operation_id = "listInsureds")]
    async fn list(
        &self,
        ctx: TenantCtx,
        /// Only the insured with this e-mail (compared as stored, lower-case).
        email: Query<Option<Email>>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<Id>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<page::PageOf<Insured>>, Problems<0>> {
        let page = page::request(cursor.0, limit.0);
        let email = email.0.map(Email::into_string);
        Ok(Json(
            services::insureds::list(&ctx.db, email, &page)
                .await?
                .into(),
        ))
    }

    /// Get an insured
    #[oai(path = "/insureds/:id", method = "get", operation_id = "getInsured")]
    async fn get(
        &self,
        ctx: TenantCtx,
        #[doc = "The insured's id."] id: Path<Id>,
    ) -> Result<Rendered<Insured>, Problems<{ NOT_FOUND }>> {
        let memo = services::insureds::get(&ctx.db, &ctx.cache, id.as_str()).await?;
        Ok(Rendered::of(&memo, Insured::clone))
    }
}
