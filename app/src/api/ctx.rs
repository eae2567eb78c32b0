//! `TenantCtx`: the platform's `Caller` (Kong's consumer, its tenant, the tenant's database and
//! cache) and the insurance domain's observer for that tenant, so a handler reports what it
//! committed. Documented exactly as `Caller` is: the same three Kong headers.

use std::sync::Arc;

use poem::Request;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, registry::Registry};

use crate::{
    observer::Observer,
    platform::{cache::TenantCache, db::Db, error::Error, gateway::Caller, tenancy::Tenant},
    state::AppState,
};

pub struct TenantCtx {
    pub tenant: Arc<Tenant>,
    /// The tenant's database: the only one a handler can reach.
    pub db: Db,
    /// The cache as this tenant sees it.
    pub cache: TenantCache,
    /// Where committed changes are reported (`observer`).
    pub observer: Observer,
}

impl<'a> ApiExtractor<'a> for TenantCtx {
    const TYPES: &'static [ApiExtractorType] = Caller::TYPES;
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        Caller::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        Caller::security_schemes()
    }

    async fn from_request(
        req: &'a Request,
        body: &mut poem::RequestBody,
        opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let caller = Caller::from_request(req, body, opts).await?;
        let state = req
            .data::<Arc<AppState>>()
            .ok_or_else(|| Error::Internal("application state is not installed".into()))?;
        Ok(TenantCtx {
            observer: state.observer(&caller.tenant.slug),
            tenant: caller.tenant,
            db: caller.db,
            cache: caller.cache,
        })
    }
}
