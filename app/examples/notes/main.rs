//! notes: a second service on the platform of policy-service, to show what starting your own
//! takes (see README.md beside this file). Its domain is `notes.rs`, its API `api.rs`; this file
//! registers both with the platform and serves them.

mod api;
mod notes;
#[cfg(test)]
mod tests;

use std::{
    process::ExitCode,
    sync::{Arc, Weak},
    time::Duration,
};

use clap::{Parser, Subcommand};
use poem::{
    EndpointExt, Route, Server,
    endpoint::make_sync,
    get,
    listener::{Listener, TcpAcceptor, TcpListener},
    middleware::AddData,
};
use poem_openapi::OpenApiService;

use api::{ChannelsApi, NotesApi};
use notes::{CountWords, NoteChannels, NoteKey};
use policy_service::platform::{
    Domain, Platform, broadcast,
    config::{PlatformConfig, secret},
    error::{Error, Result},
    http::problem,
    queue::{self, Registry, Runner},
    tenancy::TenantSlug,
};

#[derive(Parser)]
#[command(
    name = "notes",
    about = "Tenant-scoped notes, on the policy-service platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    platform: PlatformConfig,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Print the OpenAPI document.
    Openapi,
}

type Apis = (NotesApi, ChannelsApi);

fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new((NotesApi, ChannelsApi), "notes", "1.0.0")
        .description("Tenant-scoped notes: an example service on the policy-service platform.")
}

/// The platform with the notes schema and channel, and every kind of job the service runs.
pub async fn open(config: PlatformConfig) -> Result<(Arc<Platform>, Arc<Registry>)> {
    let domain = Domain {
        schema: notes::schema(),
        channels: Arc::new(NoteChannels),
    };
    let platform = Arc::new(Platform::open(config, domain).await?);
    let mut kinds = platform.kinds();
    let weak: Weak<Platform> = Arc::downgrade(&platform);
    kinds.register(move |tenant, job: CountWords| {
        let platform = weak.upgrade();
        async move {
            let p = platform.ok_or_else(|| Error::Unavailable("shutting down".into()))?;
            let db = p.tenancy.db(&tenant).await?;
            if notes::count_words(&db, &job.note_id).await? {
                p.cache
                    .tenant(&tenant.slug)
                    .forget(&NoteKey(&job.note_id))
                    .await;
            }
            Ok(())
        }
    });
    Ok((platform, Arc::new(kinds)))
}

/// The API, its document, and the Pusher socket, with the platform's problem+json errors and
/// the telemetry of every request.
pub fn routes(platform: Arc<Platform>) -> impl poem::Endpoint {
    let service = service();
    let document = service.spec();
    let templates = telemetry::routes::RouteTemplates::new(
        serde_json::from_str::<serde_json::Value>(&document)
            .ok()
            .and_then(|d| d["paths"].as_object().cloned())
            .unwrap_or_default()
            .into_iter()
            .map(|(path, ops)| {
                let methods = ops.as_object().map_or_else(Vec::new, |o| {
                    o.keys().map(|m| m.to_ascii_uppercase()).collect()
                });
                (path, methods)
            }),
    );
    let known = Arc::new(templates.clone());
    Route::new()
        .nest("/", service)
        .at(
            "/openapi.json",
            get(make_sync(move |_| {
                poem::Response::builder()
                    .content_type("application/json")
                    .body(document.clone())
            })),
        )
        .at("/app/:key", get(broadcast::pusher::upgrade))
        .with(AddData::new(platform))
        .around(move |next, req| problem::catch(next, req, known.clone()))
        // Every request a span (its trace context from W3C or B3 headers), a log line and the
        // HTTP metrics, labelled by route template.
        .with(telemetry::http::Observe::new(templates))
}

/// Serves until `stop` resolves: the API, the in-process job runner (or Redis's, with a worker
/// of its own), and the broadcasts' fan-out.
pub async fn serve(
    platform: Arc<Platform>,
    kinds: Arc<Registry>,
    acceptor: TcpAcceptor,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let runner = Runner {
        platform: platform.clone(),
        kinds,
    };
    let jobs = queue::spawn_local(runner);
    let fanout = broadcast::spawn_listener(platform.broadcasts.clone());
    let served = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(routes(platform.clone()), stop, Some(Duration::from_secs(5)))
        .await;
    platform.jobs.settled(Duration::from_secs(5)).await;
    for task in [jobs, fanout].into_iter().flatten() {
        task.abort();
    }
    platform.tenancy.close().await;
    served.map_err(|e| Error::Config(format!("cannot serve: {e}")))
}

/// Listens on the configured address, opens the platform, serves until Ctrl-C.
async fn run(config: PlatformConfig) -> Result<()> {
    let addr = format!("{}:{}", config.server.host, config.server.port);
    let acceptor = listen(&addr).await?;
    let demo = config.wants_demo_tenant();
    let (platform, kinds) = open(config).await?;
    if demo && platform.tenancy.find("demo").await?.is_none() {
        let slug = TenantSlug::parse("demo")?;
        platform.tenancy.create(&slug, "Demo").await?;
        tracing::info!("created the demo tenant (X-Consumer-Custom-ID: demo)");
    }
    tracing::info!(%addr, "serving notes");
    let stop = async {
        tokio::signal::ctrl_c().await.ok();
    };
    serve(platform, kinds, acceptor, stop).await
}

pub async fn listen(addr: &str) -> Result<TcpAcceptor> {
    TcpListener::bind(addr.to_owned())
        .into_acceptor()
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // Secrets are never flags: from the environment or a file (`platform::config::secret`).
    if let Err(e) = cli.platform.read_secrets(&secret::from_process) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if let Some(Command::Openapi) = cli.command {
        print!("{}", service().spec());
        return ExitCode::SUCCESS;
    }
    let telemetry = match telemetry::init(&cli.platform.telemetry()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match run(cli.platform).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown(Duration::from_secs(5)).await;
    code
}
