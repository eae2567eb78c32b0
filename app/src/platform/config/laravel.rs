//! The seed's own environment. Its team configures with Laravel's names, and a `.env` or a
//! Secrets Manager secret written for the seed must start this service too:
//!
//! - `DB_HOST`, `DB_PORT`, `DB_USERNAME`, `DB_PASSWORD` compose `DATABASE_URL`
//!   (`mysql://user:password@host:port`), and `DB_DATABASE` names the landlord database;
//!   `DB_CONNECTION=sqlite` keeps the embedded default;
//! - `REDIS_HOST`, `REDIS_PORT`, `REDIS_USERNAME`, `REDIS_PASSWORD` compose `REDIS_URL`;
//! - `QUEUE_CONNECTION` and `BROADCAST_DRIVER` are checked against what the service does with
//!   them (`redis` needs a Redis; jobs and broadcasts otherwise stay in the process).
//!
//! Where both forms are given the URL wins; where they say different things (another host, port
//! or user) the start stops naming both, since one of them is a mistake. Passwords are secrets:
//! read like the URLs (`DB_PASSWORD_FILE` works), never printed.

use secrecy::{ExposeSecret, SecretString};

use super::{PlatformConfig, secret};

/// The variables read here, which a secret store may set too.
pub const VARIABLES: &[&str] = &[
    "DB_CONNECTION",
    "DB_HOST",
    "DB_PORT",
    "DB_DATABASE",
    "DB_USERNAME",
    "DB_PASSWORD",
    "DB_PASSWORD_FILE",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_USERNAME",
    "REDIS_PASSWORD",
    "REDIS_PASSWORD_FILE",
    "QUEUE_CONNECTION",
    "BROADCAST_DRIVER",
];
use crate::platform::error::{Error, Result};

/// Applies Laravel's variables that `lookup` finds to `config`; `landlord_given` says whether
/// LANDLORD_DATABASE was set (as a flag or a variable), which DB_DATABASE then must not change.
pub fn apply(
    config: &mut PlatformConfig,
    lookup: secret::Lookup,
    landlord_given: bool,
) -> Result<()> {
    let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
    Server::read("DB", lookup)?.compose(
        "DATABASE_URL",
        "mysql",
        "3306",
        Some("root"),
        &mut config.database.url,
    )?;
    if let Some(connection) = var("DB_CONNECTION") {
        match connection.as_str() {
            "mysql" | "mariadb" => {}
            "sqlite" if config.database.url.is_none() => {}
            other => {
                return Err(Error::Config(format!(
                    "DB_CONNECTION={other}: this service runs on mysql (MariaDB) or sqlite (the \
                     embedded default, with no DATABASE_URL nor DB_HOST)"
                )));
            }
        }
    }
    if let Some(name) = var("DB_DATABASE")
        && !landlord_given
    {
        config.database.landlord_database = name;
    }
    Server::read("REDIS", lookup)?.compose(
        "REDIS_URL",
        "redis",
        "6379",
        None,
        &mut config.redis.url,
    )?;
    let has_redis = config
        .redis
        .url
        .as_ref()
        .is_some_and(|u| !u.expose_secret().trim().is_empty());
    for (name, in_process) in [
        ("QUEUE_CONNECTION", &["sync"][..]),
        ("BROADCAST_DRIVER", &["log", "null", "pusher", "reverb"][..]),
    ] {
        match var(name).as_deref() {
            None => {}
            Some("redis") if has_redis => {}
            Some("redis") => {
                return Err(Error::Config(format!(
                    "{name}=redis, but there is no Redis: set REDIS_URL (or REDIS_HOST)"
                )));
            }
            Some(driver) if in_process.contains(&driver) && !has_redis => {}
            Some(driver) if in_process.contains(&driver) => {
                return Err(Error::Config(format!(
                    "{name}={driver}, but with a Redis this service uses it: drop {name} or set \
                     it to redis"
                )));
            }
            Some(other) => {
                return Err(Error::Config(format!(
                    "{name}={other} is not one this service has: redis (with a Redis) or {}",
                    in_process.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// A server given by parts, Laravel's way: `<prefix>_HOST`, `_PORT`, `_USERNAME`, `_PASSWORD`.
struct Server {
    prefix: &'static str,
    host: Option<String>,
    port: Option<String>,
    user: Option<String>,
    password: Option<SecretString>,
}

impl Server {
    fn read(prefix: &'static str, lookup: secret::Lookup) -> Result<Server> {
        let var = |part: &str| lookup(&format!("{prefix}_{part}")).filter(|v| !v.is_empty());
        Ok(Server {
            prefix,
            host: var("HOST"),
            port: var("PORT"),
            user: var("USERNAME"),
            password: secret::read(&format!("{prefix}_PASSWORD"), lookup)?,
        })
    }

    /// Into `slot` (the URL variable `var`'s), when any part is given: the composed URL, or the
    /// given one when both name the same server.
    fn compose(
        &self,
        var: &str,
        scheme: &str,
        port: &str,
        user: Option<&str>,
        slot: &mut Option<SecretString>,
    ) -> Result<()> {
        if let Some(composed) = self.url(scheme, port, user)? {
            let given = slot.take();
            *slot = Some(agree(
                var,
                given,
                composed,
                self.prefix,
                self.user.is_some(),
            )?);
        }
        Ok(())
    }

    /// `scheme://user:password@host:port` when any part is given.
    fn url(&self, scheme: &str, port: &str, user: Option<&str>) -> Result<Option<SecretString>> {
        let prefix = self.prefix;
        if self.host.is_none()
            && self.port.is_none()
            && self.user.is_none()
            && self.password.is_none()
        {
            return Ok(None);
        }
        let host = self.host.as_deref().unwrap_or("127.0.0.1");
        let port = self.port.as_deref().unwrap_or(port);
        port.parse::<u16>()
            .map_err(|_| Error::Config(format!("{prefix}_PORT={port} is not a port")))?;
        let mut url = url::Url::parse(&format!("{scheme}://{host}:{port}"))
            .map_err(|e| Error::Config(format!("{prefix}_HOST={host}: {e}")))?;
        if let Some(user) = self.user.as_deref().or(user) {
            url.set_username(user)
                .map_err(|()| Error::Config(format!("{prefix}_USERNAME cannot go in a URL")))?;
        }
        if let Some(password) = &self.password {
            url.set_password(Some(password.expose_secret()))
                .map_err(|()| Error::Config(format!("{prefix}_PASSWORD cannot go in a URL")))?;
        }
        Ok(Some(url.as_str().trim_end_matches('/').to_owned().into()))
    }
}

/// The URL form, when both are given and they name the same server as the same user; an error
/// naming both when they do not (never their passwords).
fn agree(
    var: &str,
    given: Option<SecretString>,
    composed: SecretString,
    prefix: &str,
    user_given: bool,
) -> Result<SecretString> {
    let Some(given) = given.filter(|g| !g.expose_secret().trim().is_empty()) else {
        return Ok(composed);
    };
    let parts = |text: &str| {
        url::Url::parse(text.split(',').next().unwrap_or(text))
            .ok()
            .map(|u| {
                (
                    u.host_str().map(str::to_owned),
                    u.port_or_known_default(),
                    u.username().to_owned(),
                )
            })
    };
    let (a, b) = (
        parts(given.expose_secret()),
        parts(composed.expose_secret()),
    );
    match (a, b) {
        (Some((host_a, port_a, user_a)), Some((host_b, port_b, user_b)))
            if host_a != host_b || port_a != port_b || (user_given && user_a != user_b) =>
        {
            Err(Error::Config(format!(
                "{var} ({}:{}, user {user_a}) and {prefix}_HOST/{prefix}_PORT/{prefix}_USERNAME \
                 ({}:{}, user {user_b}) name different servers: keep one",
                host_a.unwrap_or_default(),
                port_a.unwrap_or_default(),
                host_b.unwrap_or_default(),
                port_b.unwrap_or_default()
            )))
        }
        _ => Ok(given),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: PlatformConfig,
    }

    fn configured(pairs: &[(&str, &str)]) -> Result<PlatformConfig> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let lookup = move |k: &str| map.get(k).cloned();
        let mut config = Cli::try_parse_from(["x"])
            .map_err(|e| Error::Config(e.to_string()))?
            .config;
        config.read_secrets(&lookup)?;
        apply(&mut config, &lookup, false)?;
        Ok(config)
    }

    fn url(secret: &Option<SecretString>) -> String {
        secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn the_seeds_database_and_redis_variables_compose_the_urls() {
        let c = configured(&[
            ("DB_CONNECTION", "mysql"),
            ("DB_HOST", "db.internal"),
            ("DB_DATABASE", "insurance"),
            ("DB_USERNAME", "app"),
            ("DB_PASSWORD", "p@ss word"),
            ("REDIS_HOST", "cache"),
            ("REDIS_PASSWORD", "r3dis"),
            ("QUEUE_CONNECTION", "redis"),
            ("BROADCAST_DRIVER", "redis"),
        ])
        .expect("taken");
        assert_eq!(
            url(&c.database.url),
            "mysql://app:p%40ss%20word@db.internal:3306"
        );
        assert_eq!(c.database.landlord_database, "insurance");
        assert_eq!(url(&c.redis.url), "redis://:r3dis@cache:6379");
        assert!(!format!("{c:?}").contains("r3dis"));
    }

    #[test]
    fn the_url_wins_and_a_contradiction_stops_the_start() {
        let same = configured(&[
            ("DATABASE_URL", "mysql://app:x@db:3306"),
            ("DB_HOST", "db"),
            ("DB_USERNAME", "app"),
        ]);
        assert_eq!(
            url(&same.expect("agree").database.url),
            "mysql://app:x@db:3306"
        );
        for (pairs, says) in [
            (
                &[
                    ("DATABASE_URL", "mysql://app@db:3306"),
                    ("DB_HOST", "other"),
                ][..],
                "name different servers",
            ),
            (
                &[("REDIS_URL", "redis://cache:6379"), ("REDIS_PORT", "6380")][..],
                "REDIS_URL",
            ),
            (&[("QUEUE_CONNECTION", "redis")][..], "no Redis"),
            (
                &[("REDIS_HOST", "cache"), ("QUEUE_CONNECTION", "sync")][..],
                "with a Redis",
            ),
            (
                &[("BROADCAST_DRIVER", "ably")][..],
                "not one this service has",
            ),
            (&[("DB_CONNECTION", "pgsql")][..], "DB_CONNECTION=pgsql"),
            (
                &[("DB_CONNECTION", "sqlite"), ("DB_HOST", "db")][..],
                "DB_CONNECTION=sqlite",
            ),
            (&[("DB_PORT", "many")][..], "DB_PORT"),
        ] {
            let e = configured(pairs)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(says), "{pairs:?}: {e}");
        }
    }
}
