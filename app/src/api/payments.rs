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
        payment::{NewPayment, Payment, PaymentMethod},
        scalars::Id,
        text::Text,
        values::{Currency, Money},
    },
    observer::PolicyEvent,
    platform::error::{Error, Result},
    services,
};

/// A payment received on a policy, in the policy's currency (else 422).
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// One of the caller's policies (else 422), bound or active (else 409 `policy_not_payable`).
    pub policy_id: Id,
    /// In minor units: 1 to 10^12.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000000")))]
    pub amount_minor: i64,
    // The shared `Currency` schema, by reference: a description here would wrap it.
    pub currency: Currency,
    pub method: PaymentMethod,
    /// The payer's reference: 1 to 100 characters.
    pub reference: Option<Text<1, 100>>,
}

impl TryFrom<CreatePayment> for NewPayment {
    type Error = Error;

    fn try_from(b: CreatePayment) -> Result<NewPayment> {
        Ok(NewPayment {
            policy_id: b.policy_id.into_string(),
            amount: Money::parse("amount_minor", b.amount_minor, false)?,
            currency: b.currency,
            method: b.method,
            reference: b.reference.map(Text::into_string),
        })
    }
}

pub struct PaymentsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Payments")]
impl PaymentsApi {
    /// Record a payment on a policy
    #[oai(path = "/payments", method = "post", operation_id = "createPayment")]
    async fn create(
        &self,
        ctx: TenantCtx,
        body: JsonBody<CreatePayment>,
    ) -> Result<Created<Payment>, Problems<{ CONFLICT | BODY }>> {
        let payment = services::payments::create(&ctx.db, body.0.try_into()?).await?;
        ctx.observer
            .committed(PolicyEvent::PaymentReceived(&payment))
            .await;
        Ok(Created::new(payment))
    }

    /// List payments, newest first
    #[oai(path = "/payments", method = "get", operation_id = "listPayments")]
    async fn list(
        &self,
        ctx: TenantCtx,
        /// Only this policy's payments.
        policy_id: Query<Option<Id>>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<Id>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<page::PageOf<Payment>>, Problems<0>> {
        let page = page::request(cursor.0, limit.0);
        let policy_id = policy_id.0.map(Id::into_string);
        Ok(Json(
            services::payments::list(&ctx.db, policy_id, &page)
                .await?
                .into(),
        ))
    }

    /// Get a payment
    #[oai(path = "/payments/:id", method = "get", operation_id = "getPayment")]
    async fn get(
        &self,
        ctx: TenantCtx,
        #[doc = "The payment's id."] id: Path<Id>,
    ) -> Result<Json<Payment>, Problems<{ NOT_FOUND }>> {
        Ok(Json(services::payments::get(&ctx.db, id.as_str()).await?))
    }
}
