//! Dynamic database credentials per tenant (the seed's `database/creds/tenant-{tenant}`):
//! each tenant's pool connects as the user of its own Vault lease, and that lease is kept alive.
//!
//! Four times a second `maintain` looks at the leases: one past two thirds of its duration is renewed.
//! A lease that cannot be renewed (revoked, or at its role's max TTL, which Vault shows by
//! granting less than a third of its duration) is replaced: a new credential is read, the
//! tenant's pool is let go (`on_rotate`: requests already holding it finish on it, the next ones
//! open a pool as the new user), and the old lease is revoked once those requests have had
//! `RETIRE_AFTER` to finish. MariaDB keeps a session of a dropped user alive, so even a request
//! slower than that loses nothing it already holds.

use std::{
    collections::HashMap,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use secrecy::SecretString;
use serde_json::json;
use tokio::time::Instant;

use super::vault::Vault;
use crate::platform::error::{Error, Result};

/// How long a replaced lease lives on for the requests still on its pool.
const RETIRE_AFTER: Duration = Duration::from_secs(10);

/// A tenant database's user and password, from a lease.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: SecretString,
}

struct Lease {
    id: String,
    credentials: Credentials,
    duration: Duration,
    expires: Instant,
    renewable: bool,
}

pub struct Leases {
    vault: Vault,
    /// `{mount}/creds/{role}`, the role with `{tenant}` for the slug.
    mount: String,
    role: String,
    current: Mutex<HashMap<String, Lease>>,
    /// One read of new credentials at a time (a burst of first requests reads once).
    reading: tokio::sync::Mutex<()>,
    retired: Mutex<Vec<(String, Instant)>>,
    renewals: AtomicU64,
    rotations: AtomicU64,
}

impl Leases {
    pub fn new(vault: Vault, mount: &str, role: &str) -> Leases {
        Leases {
            vault,
            mount: mount.trim_matches('/').to_owned(),
            role: role.to_owned(),
            current: Mutex::default(),
            reading: tokio::sync::Mutex::new(()),
            retired: Mutex::default(),
            renewals: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
        }
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tenant's current credentials, read from Vault on first use.
    pub async fn credentials(&self, slug: &str) -> Result<Credentials> {
        if let Some(lease) = self.leases().get(slug) {
            return Ok(lease.credentials.clone());
        }
        let _one = self.reading.lock().await;
        if let Some(lease) = self.leases().get(slug) {
            return Ok(lease.credentials.clone());
        }
        let lease = self.read(slug).await?;
        let credentials = lease.credentials.clone();
        self.leases().insert(slug.to_owned(), lease);
        Ok(credentials)
    }

    async fn read(&self, slug: &str) -> Result<Lease> {
        let role = self.role.replace("{tenant}", slug);
        let path = format!("{}/creds/{role}", self.mount);
        let answer = self
            .vault
            .request(reqwest::Method::GET, &path, None)
            .await
            .map_err(|e| Error::Unavailable(format!("database credentials {path}: {e}")))?;
        let field = |name: &str| answer["data"][name].as_str().map(str::to_owned);
        let (Some(username), Some(password), Some(id)) = (
            field("username"),
            field("password"),
            answer["lease_id"].as_str().map(str::to_owned),
        ) else {
            return Err(Error::Internal(format!(
                "{path} gave no username, password and lease"
            )));
        };
        let duration = Duration::from_secs(answer["lease_duration"].as_u64().unwrap_or(0));
        metrics::counter!("database_credentials_issued_total").increment(1);
        tracing::info!(tenant = slug, lease_id = %id, ttl_secs = duration.as_secs(), "database credentials issued");
        Ok(Lease {
            id,
            credentials: Credentials {
                username,
                password: password.into(),
            },
            duration,
            expires: Instant::now() + duration,
            renewable: answer["renewable"].as_bool().unwrap_or(false),
        })
    }

    /// Renews what is due, replaces what cannot be renewed (telling `on_rotate` whose pool to
    /// let go), revokes what was replaced long enough ago. Runs until the task is dropped.
    pub async fn maintain(&self, on_rotate: impl Fn(&str)) {
        let mut every = tokio::time::interval(Duration::from_millis(250));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let due: Vec<(String, String, Duration, bool)> = self
                .leases()
                .iter()
                .filter(|(_, l)| {
                    l.expires.saturating_duration_since(Instant::now()) < l.duration / 3
                })
                .map(|(slug, l)| (slug.clone(), l.id.clone(), l.duration, l.renewable))
                .collect();
            for (slug, id, duration, renewable) in due {
                if renewable && self.renew(&slug, &id, duration).await {
                    continue;
                }
                self.rotate(&slug, &id, &on_rotate).await;
            }
            self.revoke_retired().await;
        }
    }

    /// Whether the lease got at least a third of its duration more.
    async fn renew(&self, slug: &str, id: &str, duration: Duration) -> bool {
        let body = json!({"lease_id": id, "increment": duration.as_secs()});
        let renewed = self
            .vault
            .request(reqwest::Method::PUT, "sys/leases/renew", Some(body))
            .await;
        let granted = match renewed {
            Ok(answer) => Duration::from_secs(answer["lease_duration"].as_u64().unwrap_or(0)),
            Err(e) => {
                tracing::warn!(tenant = slug, lease_id = id, error = %e, "database credentials not renewed");
                return false;
            }
        };
        if granted < duration / 3 {
            return false;
        }
        if let Some(lease) = self.leases().get_mut(slug) {
            lease.expires = Instant::now() + granted;
        }
        self.renewals.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("database_credentials_renewals_total").increment(1);
        true
    }

    async fn rotate(&self, slug: &str, old: &str, on_rotate: &impl Fn(&str)) {
        let lease = match self.read(slug).await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::error!(tenant = slug, error = %e, "database credentials cannot be replaced; retried shortly");
                return;
            }
        };
        let new_id = lease.id.clone();
        self.leases().insert(slug.to_owned(), lease);
        on_rotate(slug);
        self.retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((old.to_owned(), Instant::now() + RETIRE_AFTER));
        self.rotations.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("database_credentials_rotations_total").increment(1);
        tracing::info!(tenant = slug, old_lease = old, new_lease = %new_id, "database credentials rotated: the tenant's pool reconnects as the new user");
    }

    async fn revoke_retired(&self) {
        let due: Vec<String> = {
            let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let (due, later) = retired.drain(..).partition(|(_, at)| *at <= now);
            *retired = later;
            due.into_iter().map(|(id, _)| id).collect()
        };
        for id in due {
            let body = json!({"lease_id": id});
            if let Err(e) = self
                .vault
                .request(reqwest::Method::PUT, "sys/leases/revoke", Some(body))
                .await
            {
                tracing::warn!(lease_id = %id, error = %e, "an old database lease was not revoked (it expires by itself)");
            }
        }
    }

    /// Renewals and rotations so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.renewals.load(Ordering::Relaxed),
            self.rotations.load(Ordering::Relaxed),
        )
    }
}

pub fn describe() {
    metrics::describe_counter!(
        "database_credentials_issued_total",
        "Dynamic database credentials read from Vault"
    );
    metrics::describe_counter!(
        "database_credentials_renewals_total",
        "Dynamic database credential leases renewed"
    );
    metrics::describe_counter!(
        "database_credentials_rotations_total",
        "Dynamic database credentials replaced (lease at its max TTL or revoked): the tenant's pool reconnected"
    );
    for name in [
        "database_credentials_issued_total",
        "database_credentials_renewals_total",
        "database_credentials_rotations_total",
    ] {
        metrics::counter!(name).absolute(0);
    }
}
