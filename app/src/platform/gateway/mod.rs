//! Kong at the edge (the seed's KongAuthentication and ApiRateLimiter: `usage`).
//!
//! Kong authenticates the caller and forwards who it is in headers; this service trusts them
//! because only Kong can reach it (Istio's mesh policy enforces that in `deploy/`), and, with
//! GATEWAY_SECRET set, because the request carries the secret only Kong has (`secret`). Convention:
//! each Kong consumer belongs to one tenant, and its `custom_id` is the tenant's slug, which Kong
//! sends as `X-Consumer-Custom-ID`.
//!
//! `Caller` is a poem-openapi security-scheme extractor: every tenant's handler takes one (or a
//! domain's extractor built on it), so a handler cannot run without a resolved, active tenant,
//! and the only database it is handed is that tenant's. Its three headers are declared as API-key schemes (required together; see
//! `api::spec`) so Swagger UI and generated clients send them.

pub mod secret;
pub mod settings;
pub mod usage;

use std::sync::Arc;

use poem::Request;
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaSecurityScheme, Registry},
};
pub use usage::count_consumer;

use crate::platform::{
    Platform,
    cache::TenantCache,
    db::Db,
    error::Error,
    tenancy::{Tenant, TenantSlug, TenantStatus},
};

pub const CONSUMER_ID: &str = "X-Consumer-ID";
pub const AUTHENTICATED_USERID: &str = "X-Authenticated-Userid";
pub const CONSUMER_CUSTOM_ID: &str = "X-Consumer-Custom-ID";

/// Security-scheme names in the spec, their headers and what they mean.
const SCHEMES: [(&str, &str, &str); 3] = [
    (
        "KongConsumerId",
        CONSUMER_ID,
        "Kong consumer id, set by Kong after authentication.",
    ),
    (
        "KongAuthenticatedUserid",
        AUTHENTICATED_USERID,
        "The end user Kong authenticated.",
    ),
    (
        "KongConsumerCustomId",
        CONSUMER_CUSTOM_ID,
        "The consumer's custom_id: the tenant slug.",
    ),
];

/// The caller as Kong vouched for it, and its tenant.
pub struct Caller {
    pub tenant: Arc<Tenant>,
    /// The tenant's database: the only one a handler can reach.
    pub db: Db,
    /// The cache as this tenant sees it: every name it touches is the tenant's.
    pub cache: TenantCache,
    pub consumer_id: String,
    pub user_id: String,
}

fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.header(name).map(str::trim).filter(|v| !v.is_empty())
}

impl<'a> ApiExtractor<'a> for Caller {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        for (name, header, description) in SCHEMES {
            registry.create_security_scheme(
                name,
                MetaSecurityScheme {
                    ty: "apiKey",
                    description: Some(description),
                    name: Some(header),
                    key_in: Some("header"),
                    scheme: None,
                    bearer_format: None,
                    flows: None,
                    openid_connect_url: None,
                },
            );
        }
    }

    fn security_schemes() -> Vec<&'static str> {
        SCHEMES.iter().map(|(name, _, _)| *name).collect()
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut poem::RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let state = req
            .data::<Arc<Platform>>()
            .ok_or_else(|| Error::Internal("the platform is not installed".into()))?;
        // Before any Kong header is believed: did this come through Kong?
        secret::check(
            state.config.gateway_secret.as_ref(),
            req.header(secret::HEADER),
        )?;
        let (Some(consumer_id), Some(user_id)) =
            (header(req, CONSUMER_ID), header(req, AUTHENTICATED_USERID))
        else {
            return Err(Error::Unauthenticated(format!(
                "{CONSUMER_ID} and {AUTHENTICATED_USERID} are required: call through the API gateway"
            ))
            .into());
        };
        let Some(slug) = header(req, CONSUMER_CUSTOM_ID) else {
            return Err(Error::Forbidden(format!(
                "the consumer has no tenant ({CONSUMER_CUSTOM_ID})"
            ))
            .into());
        };
        // Only a well-formed slug reaches the landlord: the same answer on both engines (MariaDB's
        // collation would match `DEMO` to `demo`) and no lookups for junk.
        let slug =
            TenantSlug::parse(slug).map_err(|_| Error::Forbidden("unknown tenant".into()))?;
        let tenant = match state.tenancy.resolve(slug.as_str()).await? {
            Some(t) if t.status == TenantStatus::Active => t,
            Some(_) => return Err(Error::Forbidden("the tenant is suspended".into()).into()),
            None => return Err(Error::Forbidden("unknown tenant".into()).into()),
        };
        telemetry::http::record_tenant(req, &tenant.slug);
        let db = state.tenancy.db(&tenant).await?;
        let cache = state.cache.tenant(&tenant.slug);
        Ok(Caller {
            cache,
            tenant,
            db,
            consumer_id: consumer_id.to_owned(),
            user_id: user_id.to_owned(),
        })
    }
}
