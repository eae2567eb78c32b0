//! Builds the application from configuration and runs it until shutdown.
//!
//! `Application::build` opens everything (landlord, the listeners) before serving, so a bad
//! configuration fails at start, not on the first request. Redis is the exception: it is
//! connected in the background (`kv`), so an outage of it never stops a start. Tests build it with port 0 and
//! their own data folder or database names, and run it in the background.
//!
//! `/metrics` is on the API port unless `METRICS_PORT` gives it a listener of its own (so the
//! gateway never routes it); that listener stops after the API's, so the last scrape of a
//! draining pod still answers.

use std::{
    future::Future,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use poem::{
    EndpointExt, Route, Server,
    endpoint::{BoxEndpoint, make_sync},
    get,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
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
    platform::config::AppEnv,
    platform::error::{Error, Result},
    platform::gateway,
    platform::queue,
    platform::server,
    platform::tenancy::TenantSlug,
    platform::{Domain, Platform},
    schedule,
    state::AppState,
};

pub struct Application {
    state: Arc<AppState>,
    acceptor: TcpAcceptor,
    port: u16,
    /// The metrics listener and its port, when `METRICS_PORT` is set.
    admin: Option<(TcpAcceptor, u16)>,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application> {
        let state = open_state(config).await?;
        label_tenants(&state).await?;
        let secret = gateway::secret::configured(state.config.gateway_secret.as_ref())?;
        if secret.is_none() && state.config.app_env == AppEnv::Production {
            tracing::warn!(
                "GATEWAY_SECRET is not set: Kong's consumer headers are trusted from anyone who \
                 can reach this port; only the mesh policy keeps other callers out"
            );
        }
        let (acceptor, port) = listen(&state.config.server.host, state.config.server.port).await?;
        let admin = match state.config.server.metrics_port {
            Some(p) => Some(listen(&state.config.server.host, p).await?),
            None => None,
        };
        Ok(Application {
            state,
            acceptor,
            port,
            admin,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on: the API's unless `METRICS_PORT` is set.
    pub fn metrics_port(&self) -> u16 {
        self.admin.as_ref().map_or(self.port, |(_, p)| *p)
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves; then drains (readiness fails while requests are still
    /// served, so the endpoint leaves the load balancer first), stops accepting, lets in-flight
    /// requests finish within the grace period, and closes the pools.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let state = self.state.clone();
        tracing::info!(port = self.port, "serving");
        let draining = self.state.clone();
        let drained = async move {
            shutdown.await;
            draining.draining.store(true, Ordering::Relaxed);
            tracing::info!(
                seconds = draining.config.server.shutdown_drain.as_secs(),
                "draining"
            );
            tokio::time::sleep(draining.config.server.shutdown_drain).await;
            // Streams and sockets end as the server stops accepting: their clients resume on
            // another replica, which the load balancer sends them to by now.
            draining.broadcasts.close();
        };
        let (stop_admin, admin_stops) = tokio::sync::oneshot::channel::<()>();
        let admin = self.admin.map(|(acceptor, _)| {
            tokio::spawn(
                Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
                    Route::new().at("/metrics", get(exposition(state.clone()))),
                    async {
                        admin_stops.await.ok();
                    },
                    Some(Duration::from_secs(1)),
                ),
            )
        });
        let statuses = business_metrics::statuses::spawn(
            state.platform.clone(),
            state.insurance.metrics_status_refresh,
            state.insurance.metrics_status_recount,
        );
        let sweep = schedule::spawn(state.clone());
        let jobs = queue::spawn_local(state.runner());
        let fanout = broadcast::spawn_listener(state.broadcasts.clone());
        let credentials = spawn_credentials(&state);
        server::serve(
            self.acceptor,
            routes(state.clone()),
            state.config.server.limits(),
            probes(&state),
            drained,
            state.config.server.shutdown_grace,
        )
        .await;
        // Their last frames (a stream's end, a socket's close) written before the process goes.
        state.broadcasts.closed(Duration::from_secs(2)).await;
        stop_admin.send(()).ok();
        if let Some(admin) = admin
            && let Ok(Err(e)) = admin.await
        {
            tracing::warn!(error = %e, "metrics listener");
        }
        // Stopped before the pools close, like the recounts.
        sweep.abort();
        sweep.await.ok();
        // The last requests' jobs (their events, their search updates) are done before the
        // process goes, or handed to Redis.
        if !state.jobs.settled(state.config.server.shutdown_grace).await {
            tracing::warn!("jobs still waiting in this process after the grace period");
        }
        for task in [jobs, fanout, credentials].into_iter().flatten() {
            task.abort();
            task.await.ok();
        }
        if let Some(statuses) = statuses {
            // Stopped before the pools close, so no count opens one behind their back.
            statuses.abort();
            statuses.await.ok();
        }
        state.tenancy.close().await;
        tracing::info!("stopped");
        Ok(())
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

/// Keeps the dynamic database credentials alive (renewals, rotations, revocations), if used.
pub fn spawn_credentials(state: &Arc<AppState>) -> Option<tokio::task::JoinHandle<()>> {
    let leases = state.tenancy.leases()?;
    let weak = Arc::downgrade(state);
    Some(tokio::spawn(async move {
        leases
            .maintain(|slug| {
                if let Some(state) = weak.upgrade() {
                    state.tenancy.credentials_replaced(slug);
                }
            })
            .await;
    }))
}

pub async fn listen(host: &str, port: u16) -> Result<(TcpAcceptor, u16)> {
    let addr = format!("{host}:{port}");
    let acceptor = TcpListener::bind(addr.clone())
        .into_acceptor()
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))?;
    let bound = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().map(|s| s.port()))
        .unwrap_or(port);
    Ok((acceptor, bound))
}

/// `/metrics`, with the pool gauges read at each scrape.
pub fn exposition(state: Arc<AppState>) -> telemetry::metrics::Exposition {
    telemetry::metrics::Exposition::collecting(move || {
        crate::platform::tenancy::gauges::collect(&state.tenancy)
    })
}

/// What is answered past `HTTP_MAX_CONNECTIONS`: the probes, and `/metrics` when it is on the
/// API port (a full pod is when its metrics matter most).
fn probes(state: &AppState) -> server::Probes {
    let mut paths = vec!["/health/live", "/health/ready"];
    if state.config.server.metrics_port.is_none() {
        paths.push("/metrics");
    }
    server::Probes {
        paths,
        overloaded: problem::overloaded,
    }
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
    if state.config.server.metrics_port.is_none() {
        let metrics = get(exposition(state.clone())).map_to_response().boxed();
        beside.push(("/metrics", "/metrics", metrics));
    }
    let templates = spec::route_templates(&document, beside.iter().map(|(label, _, _)| *label));
    let known = Arc::new(templates.clone());
    let mut route = Route::new().nest("/", service);
    for (_, path, endpoint) in beside {
        route = route.at(path, endpoint);
    }
    route
        .around(gateway::warn_near_rate_limit)
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

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed by this call, not when the future
/// is first polled: a signal that arrives while the process is still starting stops it cleanly
/// once it is up, instead of killing it half-started.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            tokio::signal::ctrl_c().await.ok();
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = term => {},
        }
        tracing::info!("shutdown signal received");
    }
}
