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
        insured::{Insured, NewInsured},
        values::{date, email, record_id, text},
    },
    error::{Error, Result},
    gateway::TenantCtx,
    services,
};

/// A new insured.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateInsured {
    /// 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub full_name: String,
    /// An e-mail address, unique within the tenant (compared lower-case).
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: String,
    /// In the past.
    pub date_of_birth: Option<NaiveDate>,
}

impl TryFrom<CreateInsured> for NewInsured {
    type Error = Error;

    fn try_from(b: CreateInsured) -> Result<NewInsured> {
        let date_of_birth = b
            .date_of_birth
            .map(|d| date("date_of_birth", d))
            .transpose()?;
        if date_of_birth.is_some_and(|d| d >= crate::domain::values::today()) {
            return Err(Error::validation("date_of_birth", "must be in the past"));
        }
        Ok(NewInsured {
            full_name: text("full_name", &b.full_name, 1, 200)?,
            email: email("email", &b.email)?,
            date_of_birth,
        })
    }
}

pub struct InsuredsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Insureds")]
impl InsuredsApi {
    /// Create an insured
    ///
    /// A second insured with the same e-mail gets 409.
    #[oai(path = "/insureds", method = "post", operation_id = "createInsured")]
    async fn create(
        &self,
        ctx: TenantCtx,
        body: JsonBody<CreateInsured>,
    ) -> Result<Created<Insured>> {
        let insured = services::insureds::create(&ctx.db, body.0.try_into()?).await?;
        Ok(Created::new(insured))
    }

    /// List insureds, newest first
    #[oai(path = "/insureds", method = "get", operation_id = "listInsureds")]
    async fn list(
        &self,
        ctx: TenantCtx,
        /// Only the insured with this e-mail.
        email: Query<Option<String>>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<page::PageOf<Insured>>> {
        let page = page::request(cursor.0, limit.0)?;
        let email = email
            .0
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty());
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
        #[doc = "The insured's id."] id: Path<String>,
    ) -> Result<Json<Insured>> {
        Ok(Json(
            services::insureds::get(&ctx.db, &record_id(&id, "insured")?).await?,
        ))
    }
}
