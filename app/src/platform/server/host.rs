//! A service's life on the platform, the same for every service built on it: listen before
//! serving (a taken port fails the start), serve the domain's routes with the probes' lane and
//! `/metrics`, run the in-process jobs, the broadcasts' fan-out and the database credentials'
//! upkeep, and on the signal stop in order:
//!
//! 1. **drain**: readiness fails (`Platform::draining`) while requests are still served, for
//!    `SHUTDOWN_DRAIN_SECS`, so the endpoint leaves the load balancer before it stops answering;
//!    then the broadcasts' streams and sockets end (their clients resume on another replica);
//! 2. **stop**: no new connections; in-flight requests get `SHUTDOWN_GRACE_SECS`;
//! 3. **settle**: the domain's own tasks stop, the last requests' jobs finish (or are in Redis),
//!    and the pools close last, so nothing opens one behind their back.
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
    Endpoint, EndpointExt, Route, Server,
    endpoint::BoxEndpoint,
    get,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};
use tokio::task::JoinHandle;

use crate::platform::{
    Platform, broadcast,
    error::{Error, Result},
    http::problem,
    queue::{self, Registry, Runner},
};

pub struct Host {
    platform: Arc<Platform>,
    acceptor: TcpAcceptor,
    port: u16,
    /// The metrics listener and its port, when `METRICS_PORT` is set.
    admin: Option<(TcpAcceptor, u16)>,
}

impl Host {
    /// Listens on `HOST:PORT`, and on `METRICS_PORT` when set.
    pub async fn bind(platform: Arc<Platform>) -> Result<Host> {
        let server = &platform.config.server;
        let (acceptor, port) = listen(&server.host, server.port).await?;
        let admin = match server.metrics_port {
            Some(p) => Some(listen(&server.host, p).await?),
            None => None,
        };
        Ok(Host {
            platform,
            acceptor,
            port,
            admin,
        })
    }

    /// The API's port (the one bound, when `PORT` was 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on: the API's unless `METRICS_PORT` is set.
    pub fn metrics_port(&self) -> u16 {
        self.admin.as_ref().map_or(self.port, |(_, p)| *p)
    }

    /// Serves `routes` until `shutdown` resolves, then drains and stops (see above). `kinds`
    /// are the jobs run in this process without Redis; `tasks` are the domain's own background
    /// work (sweeps, recounts), stopped before the pools close.
    pub async fn run_until(
        self,
        routes: impl Endpoint + 'static,
        kinds: Arc<Registry>,
        tasks: Vec<JoinHandle<()>>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let platform = self.platform;
        tracing::info!(port = self.port, "serving");
        let draining = platform.clone();
        let drained = async move {
            shutdown.await;
            draining.draining.store(true, Ordering::Relaxed);
            let drain = draining.config.server.shutdown_drain;
            tracing::info!(seconds = drain.as_secs(), "draining");
            tokio::time::sleep(drain).await;
            draining.broadcasts.close();
        };
        let (stop_admin, admin_stops) = tokio::sync::oneshot::channel::<()>();
        let admin = self.admin.map(|(acceptor, _)| {
            tokio::spawn(
                Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
                    Route::new().at("/metrics", get(exposition(platform.clone()))),
                    async {
                        admin_stops.await.ok();
                    },
                    Some(Duration::from_secs(1)),
                ),
            )
        });
        let runner = Runner {
            platform: platform.clone(),
            kinds,
        };
        let jobs = queue::spawn_local(runner);
        let fanout = broadcast::spawn_listener(platform.broadcasts.clone());
        let credentials = spawn_credentials(&platform);
        let grace = platform.config.server.shutdown_grace;
        super::serve(
            self.acceptor,
            routes,
            platform.config.server.limits(),
            probes(&platform),
            drained,
            grace,
        )
        .await;
        // Their last frames (a stream's end, a socket's close) written before the process goes.
        platform.broadcasts.closed(Duration::from_secs(2)).await;
        stop_admin.send(()).ok();
        if let Some(admin) = admin
            && let Ok(Err(e)) = admin.await
        {
            tracing::warn!(error = %e, "metrics listener");
        }
        for task in tasks {
            task.abort();
            task.await.ok();
        }
        // The last requests' jobs (their events, their search updates) are done before the
        // process goes, or handed to Redis.
        if !platform.jobs.settled(grace).await {
            tracing::warn!("jobs still waiting in this process after the grace period");
        }
        for task in [jobs, fanout, credentials].into_iter().flatten() {
            task.abort();
            task.await.ok();
        }
        platform.tenancy.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// `worker`: runs the Redis queues (`queue::worker`) until `shutdown`, with `/health/live` and
/// `/metrics` on `METRICS_PORT` (else `PORT`) for the kubelet and Prometheus, and the database
/// credentials' upkeep; the pools close last.
pub async fn work(
    platform: Arc<Platform>,
    kinds: Arc<Registry>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let server = &platform.config.server;
    let (acceptor, _) = listen(&server.host, server.metrics_port.unwrap_or(server.port)).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let probes = tokio::spawn(queue::worker::serve_probes(
        acceptor,
        exposition(platform.clone()),
        async {
            stopped.await.ok();
        },
    ));
    let credentials = spawn_credentials(&platform);
    let runner = Runner {
        platform: platform.clone(),
        kinds,
    };
    let worked = queue::worker::run(runner, shutdown).await;
    if let Some(task) = credentials {
        task.abort();
    }
    stop.send(()).ok();
    probes.await.ok();
    platform.tenancy.close().await;
    worked
}

/// `GET /metrics` for the API's own routes, unless `METRICS_PORT` serves it apart.
pub fn metrics_route(platform: &Arc<Platform>) -> Option<BoxEndpoint<'static>> {
    let apart = platform.config.server.metrics_port.is_some();
    (!apart).then(|| get(exposition(platform.clone())).map_to_response().boxed())
}

/// What is answered past `HTTP_MAX_CONNECTIONS`: the probes, and `/metrics` when it is on the
/// API port (a full pod is when its metrics matter most).
fn probes(platform: &Platform) -> super::Probes {
    let mut paths = vec!["/health/live", "/health/ready"];
    if platform.config.server.metrics_port.is_none() {
        paths.push("/metrics");
    }
    super::Probes {
        paths,
        overloaded: problem::overloaded,
    }
}

/// Keeps the dynamic database credentials alive (renewals, rotations, revocations), if used.
fn spawn_credentials(platform: &Arc<Platform>) -> Option<JoinHandle<()>> {
    let leases = platform.tenancy.leases()?;
    let weak = Arc::downgrade(platform);
    Some(tokio::spawn(async move {
        leases
            .maintain(|slug| {
                if let Some(platform) = weak.upgrade() {
                    platform.tenancy.credentials_replaced(slug);
                }
            })
            .await;
    }))
}

/// Listens on `host:port`; the acceptor and the port bound.
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
pub fn exposition(platform: Arc<Platform>) -> telemetry::metrics::Exposition {
    telemetry::metrics::Exposition::collecting(move || {
        crate::platform::tenancy::gauges::collect(&platform.tenancy)
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
