//! The command line: `serve`, `worker`, `migrate`, `tenants …`, `queue …`, `openapi`. Every
//! command reads the same configuration from the environment (see `config`); each setting is
//! also a flag, before or after the command (`serve --port 9000`), listed by `--help` under its
//! subsystem's heading. What a command reports goes to stdout (`--output json` where a program
//! reads it), its logs to stderr. Exit codes: 0 done, 1 failed, 2 a usage error (clap's), 3 a
//! `migrate` that failed for some tenants and migrated the others.

mod documents;
mod env_example;
mod queue;

use std::{io::IsTerminal, process::ExitCode, time::Duration};

use clap::{
    ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum, parser::ValueSource,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    api::spec,
    config::Config,
    platform::cache::{Cache, keys::Tag},
    platform::config::{
        PlatformConfig, laravel,
        secret::{self, Lookup},
    },
    platform::error::{Error, Result},
    platform::server::host::{self, shutdown_signal},
    platform::tenancy::{
        Tenancy, Tenant, TenantSlug, TenantStatus,
        migrate::{Progress, migrate_tenants},
    },
    startup::{Application, label_tenants, open_state},
};

#[derive(Parser)]
#[command(
    name = "policy-service",
    version,
    about = "Multi-tenant insurance policy service"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Command,
}

/// Exit code of a `migrate` that failed for some tenants (and migrated the others).
pub const EXIT_PARTLY_FAILED: u8 = 3;

/// How a listing is printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns, for a person.
    #[default]
    Text,
    /// One JSON document, for a program.
    Json,
}

impl Cli {
    /// The command line with every setting accepted after the subcommand too: a setting is
    /// global, so `serve --port 9000` and `--port 9000 serve` read the same.
    pub fn command_line() -> clap::Command {
        Cli::command()
            .mut_args(|a| {
                if a.get_env().is_some() {
                    a.global(true)
                } else {
                    a
                }
            })
            .after_help(secrets_help())
    }

    /// The configuration of `matches`, its secrets looked up in `secrets`; a secret that cannot
    /// be read is a usage error, as a bad flag is.
    pub fn from_matches(mut matches: ArgMatches, secrets: Lookup) -> Result<Cli, clap::Error> {
        // DB_DATABASE names the landlord unless LANDLORD_DATABASE does (as a flag or variable).
        let landlord_given = matches!(
            matches.value_source("landlord_database"),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        let mut cli = Cli::from_arg_matches_mut(&mut matches)?;
        let invalid = |e| Cli::command_line().error(clap::error::ErrorKind::ValueValidation, e);
        cli.config.platform.read_secrets(secrets).map_err(invalid)?;
        laravel::apply(&mut cli.config.platform, secrets, landlord_given).map_err(invalid)?;
        Ok(cli)
    }

    /// Parses `args` (the program's name first) as the binary does, with the process's secrets.
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Cli::try_parse_args_with(args, &secret::from_process)
    }

    /// Parses `args` with the secrets `secrets` gives (a test's own, say).
    pub fn try_parse_args_with<I, T>(args: I, secrets: Lookup) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Cli::from_matches(Cli::command_line().try_get_matches_from(args)?, secrets)
    }
}

/// `--help`'s last words: the secrets, which are not flags.
fn secrets_help() -> String {
    let names: Vec<_> = secret::SECRETS.iter().map(|s| s.var).collect();
    format!(
        "Secrets are read from the environment, or from the file <NAME>_FILE names, never from \
         flags: {}.",
        names.join(", ")
    )
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the HTTP API on PORT.
    Serve,
    /// Run the tenants' Redis queues (needs REDIS_URL); `/metrics` and `/health/live` on
    /// METRICS_PORT, else PORT.
    Worker,
    /// Migrate the landlord, then every active tenant (or one).
    Migrate {
        /// Only this tenant (whatever its status).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Manage tenants.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Look at the job queues and the failed jobs.
    #[command(subcommand)]
    Queue(queue::QueueCommand),
    /// The document buckets' lifecycle rules and public read policy (FILESYSTEM_DISK=s3).
    #[command(subcommand)]
    Documents(documents::DocumentsCommand),
    /// Print the OpenAPI document.
    Openapi,
    /// Print `.env.example`: every setting's variable, with its help and its default.
    EnvExample,
}

#[derive(Subcommand)]
pub enum TenantsCommand {
    /// Register a tenant, create its database and migrate it.
    Create {
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// List tenants.
    List {
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Refuse the tenant's requests (403) until activated.
    Suspend { slug: String },
    /// Serve the tenant's requests again.
    Activate { slug: String },
}

/// The environment variables the configuration reads (what a secret store may set).
pub fn variables() -> Vec<String> {
    Cli::command()
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .chain(secret::SECRETS.iter().map(|s| s.var.to_owned()))
        .chain(laravel::VARIABLES.iter().map(|v| (*v).to_owned()))
        .collect()
}

/// Reads `.env`, then the secret stores (see `secrets`), into the environment, before the
/// configuration is parsed. Runs before the main runtime exists, on a single thread: setting
/// the process's environment is only sound while no other thread reads it.
pub fn prepare() -> Result<(), String> {
    dotenvy::dotenv().ok();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let vault_token =
        secret::read("VAULT_TOKEN", &secret::from_process).map_err(|e| e.to_string())?;
    let loaded = runtime.block_on(crate::platform::secrets::load(&variables(), vault_token))?;
    // Before the logs exist: on stderr, where a failed start's message goes too.
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    let pairs = loaded.pairs;
    drop(runtime);
    for (key, value) in pairs {
        // SAFETY: no other thread runs yet (see above).
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var(key, value)
        };
    }
    Ok(())
}

pub async fn run() -> ExitCode {
    let cli = match Cli::from_matches(Cli::command_line().get_matches(), &secret::from_process) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Openapi => {
            print!("{}", spec::document(&spec::service()));
            return ExitCode::SUCCESS;
        }
        Command::EnvExample => {
            print!("{}", env_example::render());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    // A service's stdout is its log; a command's is its output, so its logs go to stderr.
    let mut logs = match cli.config.platform.telemetry() {
        Ok(logs) => logs,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    logs.logs_to_stderr = !matches!(cli.command, Command::Serve | Command::Worker);
    let telemetry = match telemetry::init(&logs) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    crate::business_metrics::init(cli.config.platform.telemetry.metrics_tenant_labels);
    let flush_within = cli.config.platform.server.shutdown_grace;
    let code = match execute(cli).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %e, "failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown(flush_within).await;
    code
}

async fn execute(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Openapi | Command::EnvExample => Ok(ExitCode::SUCCESS),
        Command::Serve => {
            let shutdown = shutdown_signal();
            let app = Application::build(cli.config).await?;
            app.run_until(shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker => {
            let shutdown = shutdown_signal();
            crate::platform::queue::worker::check(&cli.config.platform.queue)?;
            let state = open_state(cli.config).await?;
            label_tenants(&state).await?;
            let worked = host::work(state.platform.clone(), state.kinds.clone(), shutdown).await;
            worked.map(|()| ExitCode::SUCCESS)
        }
        Command::Queue(command) => {
            let state = open_state(cli.config).await?;
            let result = queue::run(&state, command).await;
            state.tenancy.close().await;
            result.map(|()| ExitCode::SUCCESS)
        }
        Command::Documents(command) => {
            let state = open_state(cli.config).await?;
            let result = documents::run(&state.documents, command).await;
            state.tenancy.close().await;
            result.map(|()| ExitCode::SUCCESS)
        }
        Command::Migrate { tenant } => {
            let tenancy = Tenancy::open(
                &cli.config.platform.database,
                cli.config.platform.database_engine()?,
                crate::store::schema::schema(),
            )
            .await?;
            println!("landlord: up to date");
            let progress = CliProgress::new();
            let report = migrate_tenants(
                &tenancy,
                tenant.as_deref(),
                cli.config.platform.database.migrate_concurrency,
                &progress,
            )
            .await?;
            progress.finish();
            println!(
                "migrated {} tenant(s), {} failed",
                report.migrated.len(),
                report.failed.len()
            );
            for (slug, error) in &report.failed {
                println!("  FAILED {slug}: {error}");
            }
            tenancy.close().await;
            Ok(if report.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_PARTLY_FAILED)
            })
        }
        Command::Tenants(command) => {
            let tenancy = Tenancy::open(
                &cli.config.platform.database,
                cli.config.platform.database_engine()?,
                crate::store::schema::schema(),
            )
            .await?;
            let result = tenants(&tenancy, &cli.config.platform, command).await;
            tenancy.close().await;
            result.map(|()| ExitCode::SUCCESS)
        }
    }
}

async fn tenants(
    tenancy: &Tenancy,
    config: &PlatformConfig,
    command: TenantsCommand,
) -> Result<()> {
    match command {
        TenantsCommand::Create { slug, name } => {
            let tenant = tenancy.create(&TenantSlug::parse(&slug)?, &name).await?;
            println!(
                "created tenant {} (database {})",
                tenant.slug,
                tenant.database.as_str()
            );
        }
        TenantsCommand::List { output } => {
            let all = tenancy.list().await?;
            if output == Output::Json {
                let rows: Vec<_> = all.iter().map(json_row).collect();
                println!("{}", serde_json::Value::Array(rows));
                return Ok(());
            }
            println!("{:<24} {:<10} {:<32} NAME", "SLUG", "STATUS", "DATABASE");
            for t in all {
                print_row(&t);
            }
        }
        TenantsCommand::Suspend { slug } => {
            print_row(&tenancy.set_status(&slug, TenantStatus::Suspended).await?);
            flush_cache(config, &slug).await?;
        }
        TenantsCommand::Activate { slug } => {
            print_row(&tenancy.set_status(&slug, TenantStatus::Active).await?)
        }
    }
    Ok(())
}

/// Drops everything cached for the tenant: in Redis, and (through the backplane) in every
/// replica's L1. Without Redis there is no shared cache to reach: the serving process's L1
/// ages out, and the gateway refuses the tenant's requests within `TENANT_CACHE_TTL_SECS`.
async fn flush_cache(config: &PlatformConfig, slug: &str) -> Result<()> {
    let Some(kv) = crate::platform::redis::open(
        &config.redis,
        &crate::platform::tls::Tls::load(&config.tls)?,
    )?
    else {
        return Ok(());
    };
    let unreachable = || Error::Unavailable("Redis: cannot flush the tenant's cache".into());
    if !kv.wait_up(Duration::from_secs(5)).await {
        return Err(unreachable());
    }
    let cache = Cache::new(0, Some((kv, config.cache.prefix.clone())));
    if !cache.tenant(slug).flush(Tag::TENANT).await {
        return Err(unreachable());
    }
    println!("flushed the cache of {slug}");
    Ok(())
}

fn print_row(t: &Tenant) {
    println!(
        "{:<24} {:<10} {:<32} {}",
        t.slug,
        t.status.as_str(),
        t.database.as_str(),
        t.name
    );
}

fn json_row(t: &Tenant) -> serde_json::Value {
    serde_json::json!({
        "id": t.id,
        "slug": t.slug,
        "name": t.name,
        "status": t.status.as_str(),
        "database": t.database.as_str(),
        "created_at": t.created_at,
    })
}

/// A progress bar on a terminal; plain lines otherwise (CI logs, pipes).
struct CliProgress {
    bar: Option<ProgressBar>,
}

impl CliProgress {
    fn new() -> CliProgress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} tenants {msg}") {
                bar.set_style(style);
            }
            bar
        });
        CliProgress { bar }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for CliProgress {
    fn start(&self, total: usize) {
        match &self.bar {
            Some(bar) => bar.set_length(total as u64),
            None => println!("migrating {total} tenant(s)"),
        }
    }

    fn done(&self, slug: &str, outcome: &Result<()>) {
        let line = match outcome {
            Ok(()) => format!("ok      {slug}"),
            Err(e) => format!("FAILED  {slug}: {e}"),
        };
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.inc(1);
            }
            None => println!("{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_after_the_command_too() {
        let after = Cli::try_parse_args(["x", "serve", "--port", "9000"]).map(|c| c.config);
        let before = Cli::try_parse_args(["x", "--port", "9001", "serve"]).map(|c| c.config);
        assert_eq!(after.map(|c| c.platform.server.port).ok(), Some(9000));
        assert_eq!(before.map(|c| c.platform.server.port).ok(), Some(9001));
        let listed = Cli::try_parse_args(["x", "tenants", "list", "--output", "json"]);
        assert!(matches!(
            listed.map(|c| c.command).ok(),
            Some(Command::Tenants(TenantsCommand::List {
                output: Output::Json
            }))
        ));
        let usage = Cli::try_parse_args(["x", "serve", "--no-such-flag"]).err();
        assert_eq!(
            usage.map(|e| e.exit_code()),
            Some(2),
            "a usage error exits 2"
        );
    }

    /// A duration is typed once, in its variable's unit, within its bounds.
    #[test]
    fn durations_are_read_in_their_unit_and_bounds() {
        let config = Cli::try_parse_args(["x", "--redis-timeout-ms", "1500", "serve"]);
        let timeout = config.map(|c| c.config.platform.redis.timeout).ok();
        assert_eq!(timeout, Some(Duration::from_millis(1500)));
        let below = Cli::try_parse_args(["x", "--redis-timeout-ms", "5", "serve"]).err();
        let message = below.as_ref().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(below.map(|e| e.exit_code()), Some(2), "{message}");
        assert!(message.contains("--redis-timeout-ms"), "{message}");
    }

    #[test]
    fn help_groups_the_settings_by_subsystem() {
        let help = Cli::command_line().render_help().to_string();
        for heading in [
            "Service:",
            "Database:",
            "Redis and the cache:",
            "Jobs:",
            "Events (the outbox):",
            "Broadcasting:",
            "Documents (the object store):",
            "HTTP server:",
            "Telemetry:",
            "Insurance:",
            "Partners (Camel):",
        ] {
            assert!(help.contains(heading), "no {heading} in\n{help}");
        }
    }
}
