use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde::Deserialize;

use super::{ApiTags, Created, body::JsonBody, page};
use crate::{
    domain::{
        payment::{NewPayment, Payment, PaymentMethod},
        values::{Currency, Money, record_id, reference, text},
    },
    error::{Error, Result},
    gateway::TenantCtx,
    observability, services,
};

/// A payment received on a policy.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// A bound or active policy (else 409).
    #[oai(validator(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub policy_id: String,
    /// In minor units: 1 to 10^12.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000000")))]
    pub amount_minor: i64,
    /// The policy's currency.
    #[oai(validator(pattern = "^[A-Z]{3}$"))]
    pub currency: String,
    pub method: PaymentMethod,
    /// Up to 100 characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub reference: Option<String>,
}

impl TryFrom<CreatePayment> for NewPayment {
    type Error = Error;

    fn try_from(b: CreatePayment) -> Result<NewPayment> {
        Ok(NewPayment {
            policy_id: reference("policy_id", &b.policy_id)?,
            amount: Money::parse("amount_minor", b.amount_minor, false)?,
            currency: Currency::parse("currency", &b.currency)?,
            method: b.method,
            reference: b
                .reference
                .map(|r| text("reference", &r, 1, 100))
                .transpose()?,
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
    ) -> Result<Created<Payment>> {
        let payment = services::payments::create(&ctx.db, body.0.try_into()?).await?;
        observability::payment_received(&ctx.tenant.slug, &payment.currency, payment.amount_minor);
        Ok(Created::new(payment))
    }

    /// List payments, newest first
    #[oai(path = "/payments", method = "get", operation_id = "listPayments")]
    async fn list(
        &self,
        ctx: TenantCtx,
        /// Only this policy's payments.
        policy_id: Query<Option<String>>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<page::PageOf<Payment>>> {
        let page = page::request(cursor.0, limit.0)?;
        let policy_id = super::filter_id("policy_id", policy_id.0)?;
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
        #[doc = "The payment's id."] id: Path<String>,
    ) -> Result<Json<Payment>> {
        Ok(Json(
            services::payments::get(&ctx.db, &record_id(&id, "payment")?).await?,
        ))
    }
}
