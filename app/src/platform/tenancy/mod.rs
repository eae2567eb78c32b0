//! Multi-tenancy: the landlord registry, one database per tenant, and a bounded set of open pools.
//!
//! Data structures:
//! - the landlord database holds `tenants` (slug → database name, status);
//! - `pools` (see `pools.rs`): at most TENANT_POOLS_MAX open tenant pools, and a connection
//!   budget that holds the replica to TENANT_POOLS_MAX × TENANT_MAX_CONNECTIONS tenant
//!   connections at every moment. A pool let go is not closed by force: a request that took it a
//!   moment before still finishes, and its connections close when its last handle is dropped.
//!   So 1,000 tenants never mean 1,000 open pools, and letting one go never fails a request;
//! - `resolved` caches slug → tenant for TENANT_CACHE_TTL_SECS, so the gateway does not ask the
//!   landlord on every request. A suspension made by this process is seen at once; one made by
//!   another process (the CLI) within the TTL. An unknown slug is cached too, for
//!   TENANT_NEGATIVE_CACHE_SECS, so junk slugs cannot load the landlord with a query each;
//!   concurrent lookups of one slug share one query, and the cache holds at most
//!   TENANT_CACHE_ENTRIES slugs. A tenant created by this process is seen at once.

mod databases;
pub mod gauges;
mod landlord;
pub mod migrate;
mod pools;
pub mod settings;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

pub use databases::{DatabaseName, Databases};
use moka::{Expiry, future::Cache};
use pools::Pools;
use sqlx::migrate::Migrator;

use crate::{
    platform::db::{Db, PoolRole, PoolUsage, now_ms},
    platform::error::{Error, Result},
    platform::secrets::leases::{Credentials, Leases},
    platform::tenancy::settings::{DatabaseConfig, Engine},
};

static LANDLORD_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/landlord");
/// The tables the platform keeps in every tenant database (the outbox).
static PLATFORM_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/platform");

/// A tenant database's migrations, as the domain declares them: those both engines share and
/// those one engine spells its own way (full-text search, say). The platform's own are added,
/// and all run in version order.
#[derive(Clone, Copy)]
pub struct Schema {
    pub shared: &'static Migrator,
    pub sqlite: &'static Migrator,
    pub mariadb: &'static Migrator,
}

impl Schema {
    /// One migrator per engine: the platform's, the shared ones and the engine's own.
    fn migrators(&self) -> Arc<[Migrator; 2]> {
        let combined = |own: &Migrator| {
            let mut all: Vec<_> = [&PLATFORM_MIGRATIONS, self.shared, own]
                .into_iter()
                .flat_map(|m| m.iter().cloned())
                .collect();
            all.sort_by_key(|m| m.version);
            Migrator::with_migrations(all)
        };
        Arc::new([combined(self.sqlite), combined(self.mariadb)])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub database: DatabaseName,
    pub status: TenantStatus,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A tenant's slug: `[a-z][a-z0-9-]*`, 2 to 40 characters. It names the tenant in Kong's
/// `X-Consumer-Custom-ID` and, with `-` as `_`, its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub fn parse(s: &str) -> Result<TenantSlug> {
        let b = s.as_bytes();
        let ok = (2..=40).contains(&b.len())
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && !s.ends_with('-');
        if ok {
            Ok(TenantSlug(s.to_owned()))
        } else {
            Err(Error::validation(
                "slug",
                "2 to 40 characters of a-z, 0-9 and '-', starting with a letter, not ending in '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One-off connections that background work (recounts, sweeps) holds at once, at most.
pub const BACKGROUND_CONNECTIONS: usize = 2;

/// A tenant's database lent to background work (`Tenancy::borrow_db`).
pub struct Borrowed {
    db: Db,
    one_off: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Borrowed {
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Closes a one-off connection; an open pool is left as it was.
    pub async fn done(self) {
        if self.one_off.is_some() {
            self.db.close().await;
        }
    }
}

/// Slugs remembered at most, found or not: junk slugs cannot grow the cache without bound.
const TENANT_CACHE_ENTRIES: u64 = 10_000;

/// How long a lookup is trusted: a tenant found, or a slug found to name none.
struct Lookups {
    found: Duration,
    missing: Duration,
}

impl Expiry<String, Option<Arc<Tenant>>> for Lookups {
    fn expire_after_create(
        &self,
        _slug: &String,
        tenant: &Option<Arc<Tenant>>,
        _at: Instant,
    ) -> Option<Duration> {
        Some(if tenant.is_some() {
            self.found
        } else {
            self.missing
        })
    }
}

pub struct Tenancy {
    databases: Databases,
    prefix: String,
    landlord: Db,
    pools: Pools,
    resolved: Cache<String, Option<Arc<Tenant>>>,
    tenant_max_connections: u32,
    background: Arc<tokio::sync::Semaphore>,
    /// Per-tenant users from Vault (DATABASE_CREDENTIALS=vault); else DATABASE_URL's user.
    leases: Option<Arc<Leases>>,
    /// The tenant schema's migrators, SQLite's then MariaDB's.
    migrators: Arc<[Migrator; 2]>,
}

impl Tenancy {
    /// Creates the landlord database if needed and brings its schema up to date; tenant
    /// databases get `schema`.
    pub async fn open(cfg: &DatabaseConfig, engine: Engine, schema: Schema) -> Result<Tenancy> {
        gauges::describe();
        let databases = Databases::new(engine);
        let landlord_name = DatabaseName::parse(&cfg.landlord_database)?;
        // A bad prefix would only surface when the first tenant is created: refuse it now. So
        // would a landlord named like a tenant, which a tenant could then be given.
        DatabaseName::parse(&format!("{}x", cfg.tenant_database_prefix))?;
        if landlord_name
            .as_str()
            .starts_with(&cfg.tenant_database_prefix)
        {
            return Err(Error::Config(
                "LANDLORD_DATABASE must not start with TENANT_DATABASE_PREFIX".into(),
            ));
        }
        databases.create(&landlord_name).await?;
        let landlord = Db::connect_lazy(
            &databases.url(&landlord_name),
            cfg.landlord_max_connections,
            PoolRole::Landlord,
        )?;
        LANDLORD_MIGRATIONS.run(landlord.pool()).await?;
        Ok(Tenancy {
            databases,
            prefix: cfg.tenant_database_prefix.clone(),
            landlord,
            pools: Pools::new(
                usize::try_from(cfg.tenant_pools_max).unwrap_or(usize::MAX),
                cfg.tenant_max_connections,
                cfg.tenant_pool_idle,
            ),
            resolved: Cache::builder()
                .max_capacity(TENANT_CACHE_ENTRIES)
                .expire_after(Lookups {
                    found: cfg.tenant_cache_ttl,
                    missing: cfg.tenant_negative_cache,
                })
                .build(),
            tenant_max_connections: cfg.tenant_max_connections,
            background: Arc::new(tokio::sync::Semaphore::new(BACKGROUND_CONNECTIONS)),
            leases: None,
            migrators: schema.migrators(),
        })
    }

    /// Requests and background work connect to tenant databases as the users of `leases`
    /// (MariaDB only). The landlord, `migrate` and `tenants create` keep DATABASE_URL's user:
    /// creating a database and changing its schema come before any role can be granted on it,
    /// and need privileges request traffic should not have.
    pub fn use_leases(&mut self, leases: Arc<Leases>) -> Result<()> {
        if self.databases.is_sqlite() {
            return Err(Error::Config(
                "DATABASE_CREDENTIALS=vault needs MariaDB (DATABASE_URL)".into(),
            ));
        }
        self.leases = Some(leases);
        Ok(())
    }

    /// The dynamic credentials' leases, when used (their maintenance runs beside the server).
    pub fn leases(&self) -> Option<Arc<Leases>> {
        self.leases.clone()
    }

    /// The database name of tenant `slug`: the prefix and the slug, `-` as `_`.
    fn database_of(&self, slug: &str) -> Result<DatabaseName> {
        DatabaseName::parse(&format!("{}{}", self.prefix, slug.replace('-', "_")))
    }

    /// Lets go of tenant `slug`'s pool: its credentials were replaced (see `secrets::leases`).
    pub fn credentials_replaced(&self, slug: &str) {
        if let Ok(name) = self.database_of(slug) {
            self.pools.forget(name.as_str());
        }
    }

    /// The user a tenant's pool connects as: its lease's, or (None) DATABASE_URL's.
    async fn tenant_user(&self, tenant: &Tenant) -> Result<Option<Credentials>> {
        match &self.leases {
            Some(leases) => Ok(Some(leases.credentials(&tenant.slug).await?)),
            None => Ok(None),
        }
    }

    pub fn landlord(&self) -> &Db {
        &self.landlord
    }

    pub fn databases(&self) -> &Databases {
        &self.databases
    }

    /// Registers a tenant, creates its database and migrates it. A tenant whose database could
    /// not be prepared is not registered, so no request ever reaches a half-made tenant.
    pub async fn create(&self, slug: &TenantSlug, name: &str) -> Result<Tenant> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::validation("name", "1 to 200 characters"));
        }
        if landlord::by_slug(&self.landlord, slug.as_str())
            .await?
            .is_some()
        {
            return Err(Error::conflict(
                "tenant_exists",
                format!("tenant `{}` exists", slug.as_str()),
            ));
        }
        let database = self.database_of(slug.as_str())?;
        let now = now_ms();
        let tenant = Tenant {
            id: uuid::Uuid::now_v7().to_string(),
            slug: slug.as_str().to_owned(),
            name: name.to_owned(),
            database,
            status: TenantStatus::Active,
            created_at: now,
            updated_at: now,
        };
        self.databases.create_new(&tenant.database).await?;
        // Registered last, and undone whole if anything fails: no orphaned database is left
        // behind to make every retry fail with `database_exists`.
        let registered = match self.migrate(&tenant).await {
            Ok(()) => landlord::insert(&self.landlord, &tenant).await,
            Err(e) => Err(e),
        };
        if let Err(e) = registered {
            if let Err(dropped) = self.databases.drop(&tenant.database).await {
                tracing::error!(database = tenant.database.as_str(), error = %dropped,
                    "could not drop the database of a tenant that failed to register");
            }
            return Err(e);
        }
        self.resolved.invalidate(slug.as_str()).await;
        Ok(tenant)
    }

    pub async fn list(&self) -> Result<Vec<Tenant>> {
        landlord::list(&self.landlord, None).await
    }

    pub async fn list_active(&self) -> Result<Vec<Tenant>> {
        landlord::list(&self.landlord, Some(TenantStatus::Active)).await
    }

    pub async fn find(&self, slug: &str) -> Result<Option<Tenant>> {
        landlord::by_slug(&self.landlord, slug).await
    }

    pub async fn set_status(&self, slug: &str, status: TenantStatus) -> Result<Tenant> {
        let tenant = landlord::set_status(&self.landlord, slug, status).await?;
        self.resolved.invalidate(slug).await;
        Ok(tenant)
    }

    /// The tenant for a slug (or that there is none), from the short-lived cache or the landlord.
    pub async fn resolve(&self, slug: &str) -> Result<Option<Arc<Tenant>>> {
        if let Some(known) = self.resolved.get(slug).await {
            return Ok(known);
        }
        // On a box: the lookup's future (moka's and the landlord query's, kilobytes) would
        // otherwise be part of every request's extractor future, moved whole at each level.
        Box::pin(self.resolved.try_get_with(slug.to_owned(), async {
            Ok::<_, Error>(landlord::by_slug(&self.landlord, slug).await?.map(Arc::new))
        }))
        .await
        .map_err(|e| Error::shared(&e, "tenant lookup"))
    }

    /// The tenant's pool, opened on first use, within the replica's connection budget.
    pub async fn db(&self, tenant: &Tenant) -> Result<Db> {
        let user = self.tenant_user(tenant).await?;
        self.pools
            .get(tenant.database.as_str(), || {
                let url = self.databases.url_as(&tenant.database, user.as_ref());
                Db::connect_lazy(&url, self.tenant_max_connections, PoolRole::Tenant)
            })
            .await
    }

    /// Lets go of the pools unused for TENANT_POOL_IDLE_SECS (the server calls it every second).
    pub fn close_idle_pools(&self) {
        self.pools.close_idle();
    }

    /// Brings one tenant's schema up to date on a connection of its own.
    pub async fn migrate(&self, tenant: &Tenant) -> Result<()> {
        let db = self.one_off_db(tenant)?;
        let migrator = &self.migrators[usize::from(!db.is_sqlite())];
        let result = migrator.run(db.pool()).await;
        db.close().await;
        Ok(result?)
    }

    /// Closes the landlord and every open tenant pool (graceful shutdown).
    pub async fn close(&self) {
        self.pools.close().await;
        self.landlord.close().await;
    }

    /// Connections of the landlord pool and of all open tenant pools together. Looking does not
    /// count as use: an idle tenant's pool still ages out.
    pub fn pool_usage(&self) -> [(PoolRole, PoolUsage); 2] {
        let tenants = self
            .pools
            .all()
            .iter()
            .fold(PoolUsage::default(), |sum, db| sum + db.usage());
        [
            (PoolRole::Landlord, self.landlord.usage()),
            (PoolRole::Tenant, tenants),
        ]
    }

    /// The tenant's pool if it is open, without counting as use (so it still ages out).
    pub fn open_db(&self, tenant: &Tenant) -> Option<Db> {
        self.pools.peek(tenant.database.as_str())
    }

    /// A handle for background work on `tenant` (status recounts, the expiry sweep): its pool if
    /// open, without counting as use, so it never keeps a pool alive; else a one-off connection,
    /// of which all background work together opens at most `BACKGROUND_CONNECTIONS`. Call
    /// `Borrowed::done` after.
    pub async fn borrow_db(&self, tenant: &Tenant) -> Result<Borrowed> {
        if let Some(db) = self.open_db(tenant) {
            return Ok(Borrowed { db, one_off: None });
        }
        let permit = self
            .background
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Unavailable("shutting down".into()))?;
        let user = self.tenant_user(tenant).await?;
        let url = self.databases.url_as(&tenant.database, user.as_ref());
        Ok(Borrowed {
            db: Db::connect_lazy(&url, 1, PoolRole::Tenant)?,
            one_off: Some(permit),
        })
    }

    /// A pool of one connection outside the bounded set, as DATABASE_URL's user, for work that
    /// must not keep the tenant's own pool open and may change the schema (migrations). Close
    /// it when done.
    pub fn one_off_db(&self, tenant: &Tenant) -> Result<Db> {
        Db::connect_lazy(&self.databases.url(&tenant.database), 1, PoolRole::Tenant)
    }

    /// Open tenant pools right now.
    pub fn open_pools(&self) -> u64 {
        self.pools.all().len() as u64
    }
}
