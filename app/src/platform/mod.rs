//! The platform: what any multi-tenant service behind Kong needs, knowing nothing of the domain
//! that runs on it. The domain registers what it has with it: its tenants' schema and its
//! channels here (`Domain`), its job kinds with the queue (`Platform::kinds` is where they start),
//! its cache tags and keys with the cache, its routes with the server.

pub mod aws;
pub mod backlog;
pub mod breaker;
pub mod broadcast;
pub mod cache;
pub mod config;
pub mod db;
pub mod documents;
pub mod error;
pub mod gateway;
pub mod http;
pub mod outbox;
pub mod queue;
pub mod redis;
pub mod secrets;
pub mod server;
pub mod tenancy;
pub mod tls;

use std::sync::{Arc, atomic::AtomicBool};

use secrecy::SecretString;

use broadcast::{Broadcasting, Broadcasts, channels::Channels, signature::Signer};
use cache::Cache;
use config::PlatformConfig;
use documents::Documents;
use error::{Error, Result};
use gateway::usage::Usage;
use outbox::{Events, RelayOutbox};
use queue::{Jobs, Registry};
use redis::Redis;
use secrets::leases::Leases;
use tenancy::settings::{CredentialsSource, DatabaseConfig};
use tenancy::{Schema, Tenancy};

/// What a domain brings to the platform when it opens.
pub struct Domain {
    /// The tables of each tenant's database.
    pub schema: Schema,
    /// The channels its clients may follow, and which events go on them.
    pub channels: Arc<dyn Channels>,
}

/// What every request, job and command of a service can reach: built once at start, shared.
pub struct Platform {
    pub config: PlatformConfig,
    pub tenancy: Tenancy,
    /// The read cache, seen through `Cache::tenant`.
    pub cache: Cache,
    /// Redis, when `REDIS_URL` is set (connected in the background).
    pub redis: Option<Arc<Redis>>,
    /// Where the jobs that follow committed changes go.
    pub jobs: Arc<Jobs>,
    /// The outbox relay, run by jobs.
    pub events: Events,
    /// Where stored files' bytes live.
    pub documents: Arc<Documents>,
    /// The sockets' channels and the fan-out.
    pub broadcasts: Arc<Broadcasts>,
    /// Signs and checks private-channel subscriptions.
    pub signer: Signer,
    /// Each Kong consumer's requests against its rate limits (the seed's ApiRateLimiter).
    pub usage: Arc<Usage>,
    /// Set on SIGTERM: readiness fails so traffic moves away before the server stops.
    pub draining: AtomicBool,
}

impl Platform {
    /// Opens the landlord (migrating it), Redis when configured (in the background: the
    /// service starts, and serves, while Redis is down), the object store and the publishers.
    pub async fn open(config: PlatformConfig, domain: Domain) -> Result<Platform> {
        let mut tenancy =
            Tenancy::open(&config.database, config.database_engine()?, domain.schema).await?;
        secrets::leases::describe();
        let tls = tls::Tls::load(&config.tls)?;
        if let Some(leases) = dynamic_credentials(&config.database, &tls)? {
            tenancy.use_leases(leases)?;
        }
        let kv = redis::open(&config.redis, &tls)?;
        if let Some(kv) = &kv {
            kv.refuse_misconfigured().await?;
        }
        let prefixed = || kv.clone().map(|kv| (kv, config.cache.prefix.clone()));
        // L1 in front; with Redis, L2 shared by the replicas (see `cache`).
        let cache = Cache::new(config.cache.l1_max_bytes, prefixed());
        let broadcasts = Arc::new(Broadcasts::new(
            domain.channels,
            prefixed(),
            usize::try_from(config.broadcast.broadcast_history).unwrap_or(1000),
            config.broadcast.caps(),
        ));
        let production = config.app_env.is_production();
        let secret = given_or_random(
            &config.broadcast.broadcast_app_secret,
            production,
            "BROADCAST_APP_SECRET is not set: a random one signs this process's private channels, \
             so a client authorised by another instance cannot subscribe here",
        );
        let signer = Signer::new(&config.broadcast.broadcast_app_key, secret);
        let events = Events::new(
            &config.outbox,
            vec![Box::new(Broadcasting(broadcasts.clone()))],
            &tls,
        )
        .await?;
        let jobs = Arc::new(Jobs::new(&config.queue, kv.clone()));
        let url_key = given_or_random(
            &config.app_key,
            production && !config.documents.is_s3(),
            "APP_KEY is not set: a random one signs this process's document URLs, so a URL from \
             another instance is refused here",
        );
        let documents = Arc::new(
            Documents::open(
                &config.documents,
                &tls,
                &config.database.data_dir,
                &config.app_url,
                config.cdn(),
                url_key,
            )
            .await?,
        );
        let usage = Usage::new(&config.gateway, prefixed());
        Usage::spawn(&usage);
        gateway::usage::describe();
        Ok(Platform {
            config,
            tenancy,
            cache,
            redis: kv,
            jobs,
            events,
            documents,
            broadcasts,
            signer,
            usage,
            draining: AtomicBool::new(false),
        })
    }

    /// The platform's own kinds of job (the outbox relay), for the domain to add its own to.
    pub fn kinds(self: &Arc<Self>) -> Registry {
        let mut kinds = Registry::default();
        let platform = Arc::downgrade(self);
        kinds.register(move |tenant, job: RelayOutbox| {
            let platform = platform.upgrade();
            async move {
                let p = platform.ok_or_else(|| Error::Unavailable("shutting down".into()))?;
                p.events.relay(&p.tenancy, &tenant, job.sweep).await
            }
        });
        kinds
    }
}

/// A signing secret as configured, or a random one for this process (saying so when `warn`:
/// another instance cannot check what this one signed).
fn given_or_random(given: &Option<SecretString>, warn: bool, warning: &str) -> SecretString {
    given.clone().unwrap_or_else(|| {
        if warn {
            tracing::warn!("{warning}");
        }
        SecretString::from(hex::encode(rand::random::<[u8; 32]>()))
    })
}

/// Vault's per-tenant database users, when DATABASE_CREDENTIALS=vault.
fn dynamic_credentials(cfg: &DatabaseConfig, tls: &tls::Tls) -> Result<Option<Arc<Leases>>> {
    if cfg.database_credentials != CredentialsSource::Vault {
        return Ok(None);
    }
    let vault = cfg
        .vault
        .vault(tls)?
        .ok_or_else(|| Error::Config("DATABASE_CREDENTIALS=vault needs VAULT_ADDR".into()))?;
    Ok(Some(Arc::new(Leases::new(
        vault,
        &cfg.vault_database_mount,
        &cfg.vault_database_role,
    ))))
}
