use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde::Deserialize;

use super::{
    ApiTags, Created,
    body::JsonBody,
    errors::{BODY, NOT_FOUND, Problems},
    page,
    rendered::Rendered,
};
use crate::{
    api::ctx::TenantCtx,
    domain::{
        quote::{NewCoverage, NewQuote, Product, Quote},
        scalars::{Date, Id},
        underwriting::Rules,
        values::{Currency, Money, today},
    },
    platform::error::{Error, Result},
    services,
    state::AppState,
};

/// One coverage to price into a quote.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CoverageInput {
    /// 2 to 40 characters of a-z, 0-9 and `_`; unique within the quote.
    #[oai(validator(pattern = "^[a-z0-9_]{2,40}$"))]
    pub code: String,
    /// Most the insurer pays, in minor units: 1 to 10^12.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000000000")))]
    pub limit_minor: i64,
    /// What the insured pays first, in minor units: 0 up to `limit_minor` (else 422).
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000")))]
    pub deductible_minor: i64,
    /// This coverage's premium, in minor units: 0 to 10^12.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000")))]
    pub premium_minor: i64,
}

/// A new quote.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct CreateQuote {
    /// The insured it is for: one of the caller's (else 422).
    pub insured_id: Id,
    pub product: Product,
    // The shared `Currency` schema, by reference: a description here would wrap it.
    pub currency: Currency,
    /// Last day it can be bound: from today (UTC) to `effective_date` (else 422; default: 30
    /// days from today, or `effective_date` if sooner).
    pub valid_until: Option<Date>,
    /// First day of cover: today (UTC) or later, less UNDERWRITING_BACKDATE_DAYS (else 422).
    pub effective_date: Date,
    /// Last day of cover: after `effective_date`, at most UNDERWRITING_MAX_TERM_DAYS after it
    /// (else 422).
    pub expiry_date: Date,
    /// 1 to 20 coverages with distinct codes (else 422); the quote's premium is the sum of
    /// theirs and must be above zero (else 422).
    #[oai(validator(min_items = 1, max_items = 20))]
    pub coverages: Vec<CoverageInput>,
}

fn coverage(i: usize, c: CoverageInput) -> Result<NewCoverage> {
    let field = |name: &str| format!("coverages[{i}].{name}");
    let code_ok = (2..=40).contains(&c.code.len())
        && c.code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !code_ok {
        return Err(Error::validation(
            field("code"),
            "2 to 40 characters of a-z, 0-9 and _",
        ));
    }
    let limit = Money::parse(&field("limit_minor"), c.limit_minor, false)?;
    let deductible = Money::parse(&field("deductible_minor"), c.deductible_minor, true)?;
    if deductible.minor() > limit.minor() {
        return Err(Error::validation(
            field("deductible_minor"),
            "must not exceed limit_minor",
        ));
    }
    let premium = Money::parse(&field("premium_minor"), c.premium_minor, true)?;
    Ok(NewCoverage {
        code: c.code,
        limit,
        deductible,
        premium,
    })
}

impl CreateQuote {
    fn check(self, rules: &Rules) -> Result<NewQuote> {
        let b = self;
        let today = today();
        let (effective_date, expiry_date) = (b.effective_date, b.expiry_date);
        // Offered for 30 days, but never past the start of cover.
        let valid_until = b
            .valid_until
            .unwrap_or_else(|| today.plus_days(30).min(effective_date.max(today)));
        rules.quote(today, effective_date, expiry_date, valid_until)?;
        if b.coverages.is_empty() || b.coverages.len() > 20 {
            return Err(Error::validation("coverages", "1 to 20 coverages"));
        }
        let mut coverages = Vec::with_capacity(b.coverages.len());
        for (i, c) in b.coverages.into_iter().enumerate() {
            let c = coverage(i, c)?;
            if coverages
                .iter()
                .any(|seen: &NewCoverage| seen.code == c.code)
            {
                return Err(Error::validation(
                    format!("coverages[{i}].code"),
                    "appears twice",
                ));
            }
            coverages.push(c);
        }
        let quote = NewQuote {
            insured_id: b.insured_id.into_string(),
            product: b.product,
            currency: b.currency,
            valid_until,
            effective_date,
            expiry_date,
            coverages,
        };
        if quote.premium_minor() <= 0 {
            return Err(Error::validation(
                "coverages",
                "the premiums must add up to more than zero",
            ));
        }
        Ok(quote)
    }
}

pub struct QuotesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Quotes")]
impl QuotesApi {
    /// Create a quote
    ///
    /// Beyond the schema, the underwriting rules: cover starts today or later (less the
    /// configured backdating) and runs at most the configured term (three years by default),
    /// `expiry_date` after `effective_date`, `valid_until` from today to `effective_date`; and
    /// each deductible at most its limit, distinct coverage codes, a premium above zero, an
    /// `insured_id` of the caller's. Each broken rule is a 422 naming the field.
    #[oai(path = "/quotes", method = "post", operation_id = "createQuote")]
    async fn create(
        &self,
        ctx: TenantCtx,
        state: Data<&Arc<AppState>>,
        body: JsonBody<CreateQuote>,
    ) -> Result<Created<Quote>, Problems<{ BODY }>> {
        let quote = body.0.check(&state.insurance.underwriting())?;
        Ok(Created::new(
            services::quotes::create(&ctx.db, quote).await?,
        ))
    }

    /// List quotes, newest first
    #[oai(path = "/quotes", method = "get", operation_id = "listQuotes")]
    async fn list(
        &self,
        ctx: TenantCtx,
        /// Only this insured's quotes.
        insured_id: Query<Option<Id>>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<Id>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<page::PageOf<Quote>>, Problems<0>> {
        let page = page::request(cursor.0, limit.0);
        let insured_id = insured_id.0.map(Id::into_string);
        Ok(Json(
            services::quotes::list(&ctx.db, insured_id, &page)
                .await?
                .into(),
        ))
    }

    /// Get a quote
    #[oai(path = "/quotes/:id", method = "get", operation_id = "getQuote")]
    async fn get(
        &self,
        ctx: TenantCtx,
        #[doc = "The quote's id."] id: Path<Id>,
    ) -> Result<Rendered<Quote>, Problems<{ NOT_FOUND }>> {
        let memo = services::quotes::get(&ctx.db, &ctx.cache, id.as_str()).await?;
        Ok(Rendered::of(&memo, Quote::clone))
    }

    /// Price a quote with the rating partner
    ///
    /// Asks the partner's `rating` route (through Camel) for its premium, synchronously; the
    /// quote is not changed. While the partner is down, or its circuit breaker open after
    /// repeated failures, the answer is 503 at once, with `Retry-After`.
    #[oai(path = "/quotes/:id/rate", method = "post", operation_id = "rateQuote")]
    async fn rate(
        &self,
        ctx: TenantCtx,
        state: Data<&Arc<AppState>>,
        #[doc = "The quote's id."] id: Path<Id>,
    ) -> Result<Json<Rating>, Problems<{ NOT_FOUND }>> {
        let rated = services::quotes::rate(
            &ctx.db,
            &ctx.cache,
            &state.partners,
            &ctx.tenant.id,
            id.as_str(),
        )
        .await?;
        Ok(Json(Rating {
            quote_id: id.0.into_string(),
            premium_minor: rated.premium_minor,
            rated_at: chrono::Utc::now(),
        }))
    }
}

/// The rating partner's price for a quote.
#[derive(Debug, Object)]
pub struct Rating {
    pub quote_id: String,
    /// The partner's premium, in the quote's currency's minor units.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000")))]
    pub premium_minor: i64,
    /// When the partner answered.
    pub rated_at: chrono::DateTime<chrono::Utc>,
}
