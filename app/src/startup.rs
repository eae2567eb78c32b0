//! Builds the insurance service from configuration and runs it until shutdown.
//!
//! `Application::build` opens everything (landlord, the listeners) before serving, so a bad
//! configuration fails at start, not on the first request. Redis is the exception: it is
//! connected in the background, so an outage of it never stops a start. Tests build it with
//! port 0 and their own data folder or database names, and run it in the background. How it
//! serves and stops is the platform's (`platform::server::host`); what is here is the domain's:
//! its schema and channels, its partners and jobs, its routes, its clock work.

use std::{future::Future, sync::Arc};

use poem::{
    EndpointExt, Route,
    endpoint::{BoxEndpoint, make_sync},
    get,
    middleware::AddData,
    web::Html,
};

use crate::{
    api::{self, problem, spec},
    business_metrics,
    channels::InsuranceChannels,
    config::Config,
    partners::Partners,
    platform::broadcast,
    platform::error::Result,
    platform::gateway,
    platform::server::host::{self, Host},
    platform::tenancy::TenantSlug,
    platform::{Domain, Platform},
    schedule,
    state::AppState,
};

pub struct Application {
    state: Arc<AppState>,
    host: Host,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application> {
        let state = open_state(config).await?;
        label_tenants(&state).await?;
        let secret = gateway::secret::configured(state.config.gateway_secret.as_ref())?;
        if secret.is_none() && state.config.app_env.is_production() {
            tracing::warn!(
                "GATEWAY_SECRET is not set: Kong's consumer headers are trusted from anyone who \
                 can reach this port; only the mesh policy keeps other callers out"
            );
        }
        let host = Host::bind(state.platform.clone()).await?;
        Ok(Application { state, host })
    }

    pub fn port(&self) -> u16 {
        self.host.port()
    }

    /// The port `/metrics` is served on: the API's unless `METRICS_PORT` is set.
    pub fn metrics_port(&self) -> u16 {
        self.host.metrics_port()
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then drains and stops as every service on the platform
    /// does (`platform::server::host`); the insurance domain's own clock work (the sweeps, the
    /// status recounts) stops before the pools close.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let state = self.state;
        let statuses = business_metrics::statuses::spawn(
            state.platform.clone(),
            state.insurance.metrics_status_refresh,
            state.insurance.metrics_status_recount,
        );
        let sweep = schedule::spawn(state.clone());
        let tasks = [Some(sweep), statuses].into_iter().flatten().collect();
        let routes = routes(state.clone());
        self.host
            .run_until(routes, state.kinds.clone(), tasks, shutdown)
            .await
    }
}

/// Gives the oldest tenants their metric labels first, as every replica and worker does (see
/// `business_metrics::name_tenants`).
pub async fn label_tenants(state: &AppState) -> Result<()> {
    let mut tenants = state.tenancy.list().await?;
    tenants.sort_by(|a, b| (a.created_at, &a.slug).cmp(&(b.created_at, &b.slug)));
    business_metrics::name_tenants(tenants.iter().map(|t| t.slug.as_str()));
    Ok(())
}

/// Opens the platform with the insurance domain's schema and channels, the demo tenant when
/// wanted, and the domain's partners and jobs.
pub async fn open_state(config: Config) -> Result<Arc<AppState>> {
    let Config {
        platform: config,
        insurance,
    } = config;
    let domain = Domain {
        schema: crate::store::schema::schema(),
        channels: Arc::new(InsuranceChannels),
    };
    let platform = Arc::new(Platform::open(config, domain).await?);
    if platform.config.wants_demo_tenant() && platform.tenancy.find("demo").await?.is_none() {
        platform
            .tenancy
            .create(&TenantSlug::parse("demo")?, "Demo Insurance")
            .await?;
        tracing::info!("created the demo tenant (X-Consumer-Custom-ID: demo)");
    }
    let partners = Arc::new(Partners::new(&insurance.partners)?);
    let kinds = platform.kinds();
    Ok(Arc::new_cyclic(|state| AppState {
        platform,
        partners,
        insurance,
        kinds: Arc::new(crate::job_handlers::kinds(kinds, state.clone())),
    }))
}

pub fn routes(state: Arc<AppState>) -> impl poem::Endpoint {
    let service = spec::service();
    let document = spec::document(&service);
    let swagger = spec::swagger_ui(&service, &document, state.config.cdn().unwrap_or(""));
    let served = document.clone();
    let html = swagger.html;
    // The GET routes served beside the API's, each with its template (how metrics and `Allow`
    // name it) in one table: a route cannot reach the router without its label.
    let mut beside: Vec<(&'static str, &'static str, BoxEndpoint<'static>)> = vec![
        (
            "/openapi.json",
            "/openapi.json",
            get(make_sync(move |_| {
                poem::Response::builder()
                    .content_type("application/json")
                    .body(served.clone())
            }))
            .boxed(),
        ),
        (
            "/docs",
            "/docs",
            get(make_sync(move |_| Html(html.clone())))
                .map_to_response()
                .boxed(),
        ),
        (
            spec::SWAGGER_CSS,
            spec::SWAGGER_CSS,
            get(asset("text/css", swagger.css)).boxed(),
        ),
        (
            spec::SWAGGER_JS,
            spec::SWAGGER_JS,
            get(asset("text/javascript", swagger.js)).boxed(),
        ),
        (
            "/app/{key}",
            "/app/:key",
            get(broadcast::pusher::upgrade).map_to_response().boxed(),
        ),
        (
            "/storage/{visibility}/tenant/{tenant_id}/documents/{object}",
            "/storage/:visibility/*key",
            get(api::storage::serve).map_to_response().boxed(),
        ),
    ];
    if let Some(metrics) = host::metrics_route(&state.platform) {
        beside.push(("/metrics", "/metrics", metrics));
    }
    let templates = spec::route_templates(&document, beside.iter().map(|(label, _, _)| *label));
    let known = Arc::new(templates.clone());
    let mut route = Route::new().nest("/", service);
    for (_, path, endpoint) in beside {
        route = route.at(path, endpoint);
    }
    route
        .around(gateway::count_consumer)
        .with(AddData::new(state.platform.clone()))
        .with(AddData::new(state))
        .around(move |next, req| problem::catch(next, req, known.clone()))
        .with(telemetry::http::Observe::new(templates))
}

/// A static asset, cached for good: its URL changes with its content (`?v=`).
fn asset(content_type: &'static str, body: String) -> impl poem::Endpoint {
    make_sync(move |_| {
        poem::Response::builder()
            .content_type(content_type)
            .header("Cache-Control", "public, max-age=31536000, immutable")
            .body(body.clone())
    })
}
