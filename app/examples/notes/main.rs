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
};

use clap::{Parser, Subcommand};
use poem::{EndpointExt, Route, endpoint::make_sync, get, middleware::AddData};
use poem_openapi::OpenApiService;

use api::{ChannelsApi, NotesApi};
use notes::{CountWords, NoteChannels, NoteKey};
use policy_service::platform::{
    Domain, Platform, broadcast,
    config::{PlatformConfig, secret},
    error::{Error, Result},
    http::problem,
    queue::Registry,
    server::{
        health::HealthApi,
        host::{self, Host, shutdown_signal},
    },
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
    /// Run the tenants' Redis queues (needs REDIS_URL; without it `serve` runs the jobs).
    Worker,
    /// Print the OpenAPI document.
    Openapi,
}

type Apis = (HealthApi, NotesApi, ChannelsApi);

/// Served beside the API, outside its document: the document itself, the socket, the metrics.
const BESIDE: [&str; 3] = ["/openapi.json", "/app/:key", "/metrics"];

fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new((HealthApi, NotesApi, ChannelsApi), "notes", "1.0.0")
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
            })
            .chain(
                BESIDE
                    .iter()
                    .map(|p| ((*p).to_owned(), vec!["GET".to_owned()])),
            ),
    );
    let known = Arc::new(templates.clone());
    let mut route = Route::new()
        .nest("/", service)
        .at(
            "/openapi.json",
            get(make_sync(move |_| {
                poem::Response::builder()
                    .content_type("application/json")
                    .body(document.clone())
            })),
        )
        .at("/app/:key", get(broadcast::pusher::upgrade));
    if let Some(metrics) = host::metrics_route(&platform) {
        route = route.at("/metrics", metrics);
    }
    route
        .with(AddData::new(platform))
        .around(move |next, req| problem::catch(next, req, known.clone()))
        // Every request a span (its trace context from W3C or B3 headers), a log line and the
        // HTTP metrics, labelled by route template.
        .with(telemetry::http::Observe::new(templates))
}

/// Opens the platform (and the demo tenant, when wanted), listens, and serves (or works the
/// queues) until SIGTERM or Ctrl-C, draining and stopping as every service on the platform does.
async fn run(config: PlatformConfig, command: Option<Command>) -> Result<()> {
    let shutdown = shutdown_signal();
    let demo = config.wants_demo_tenant();
    let (platform, kinds) = open(config).await?;
    if let Some(Command::Worker) = command {
        return host::work(platform, kinds, shutdown).await;
    }
    if demo && platform.tenancy.find("demo").await?.is_none() {
        let slug = TenantSlug::parse("demo")?;
        platform.tenancy.create(&slug, "Demo").await?;
        tracing::info!("created the demo tenant (X-Consumer-Custom-ID: demo)");
    }
    let host = Host::bind(platform.clone()).await?;
    host.run_until(routes(platform), kinds, vec![], shutdown)
        .await
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
    let logs = match cli.platform.telemetry() {
        Ok(logs) => logs,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let telemetry = match telemetry::init(&logs) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let flush_within = cli.platform.server.shutdown_grace;
    let code = match run(cli.platform, cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown(flush_within).await;
    code
}
