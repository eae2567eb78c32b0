//! Settings that are secrets: read from the environment variable, or from the file that
//! `<NAME>_FILE` names (a mounted Kubernetes Secret, a Docker secret), never from a flag. A
//! flag's value is on view to every user of the machine (`ps`, `/proc/*/cmdline`) and stays in
//! shell history; an environment variable or a file readable by the service alone is not.
//!
//! The secret stores (`platform::secrets`) may set these variables too, at boot.

use std::path::Path;

use secrecy::SecretString;

use crate::platform::error::{Error, Result};

/// A secret setting: its variable, the help heading it belongs under, and what it is.
pub struct Secret {
    pub var: &'static str,
    pub heading: &'static str,
    pub help: &'static str,
}

/// Every secret the platform reads.
pub const SECRETS: &[Secret] = &[
    Secret {
        var: "APP_KEY",
        heading: "Service",
        help: "Signs the local disk's download URLs (Laravel's APP_KEY). Every instance needs the \
               same one. Unset: a random one per process.",
    },
    Secret {
        var: "GATEWAY_SECRET",
        heading: "Service",
        help: "The secret Kong adds to every upstream request (`X-Gateway-Secret`). Set: a `/v1` \
               request without it is 401. Unset: Kong's headers are trusted from anyone who can \
               reach the port.",
    },
    Secret {
        var: "DATABASE_URL",
        heading: "Database",
        help: "MariaDB server, e.g. `mysql://root@127.0.0.1:3306` (no database in the path: the \
               landlord and each tenant get their own). Unset: SQLite files under DATA_DIR.",
    },
    Secret {
        var: "VAULT_TOKEN",
        heading: "Vault",
        help: "A Vault token; unset: a Kubernetes login as VAULT_K8S_ROLE, or a JWT login as \
               VAULT_JWT_ROLE.",
    },
    Secret {
        var: "REDIS_URL",
        heading: "Redis and the cache",
        help: "Redis, e.g. `redis://127.0.0.1:6379` (`rediss://` for TLS, the password in the \
               URL), or a cluster's nodes, comma-separated. Unset or empty: no Redis (L1 cache \
               only).",
    },
    Secret {
        var: "BROADCAST_APP_SECRET",
        heading: "Broadcasting",
        help: "The secret that signs private-channel subscriptions (`POST /broadcasting/auth`). \
               Every instance needs the same one. Unset: a random one per process (one instance \
               only).",
    },
    Secret {
        var: "KAFKA_SASL_PASSWORD",
        heading: "Events (the outbox)",
        help: "The SASL password (PLAIN or SCRAM) of the Kafka user `sasl.username` names.",
    },
    Secret {
        var: "LOKI_PASSWORD",
        heading: "Telemetry",
        help: "Loki's basic-auth password (with LOKI_USERNAME), e.g. a Grafana Cloud token.",
    },
    Secret {
        var: "LOKI_BEARER_TOKEN",
        heading: "Telemetry",
        help: "A bearer token for Loki, instead of basic auth.",
    },
    Secret {
        var: "OTEL_EXPORTER_OTLP_HEADERS",
        heading: "Telemetry",
        help: "Headers sent with every OTLP export, `key=value,key=value`, values \
               percent-encoded: a hosted collector's API key or authorization.",
    },
    Secret {
        var: "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        heading: "Telemetry",
        help: "As OTEL_EXPORTER_OTLP_HEADERS, for traces; added after them.",
    },
];

/// Where secrets are looked up: the process's environment (`from_process`), or a test's own.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process's environment; an empty variable counts as unset.
pub fn from_process(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `var`'s value, from `var` or from the file `<var>_FILE` names (its trailing newline
/// dropped, as `echo` and `kubectl create secret --from-file` leave one). Both set is refused
/// (which one was meant?); an unreadable file is an error naming the variable and the path,
/// never the value. Empty is unset.
pub fn read(var: &str, lookup: Lookup) -> Result<Option<SecretString>> {
    let file_var = format!("{var}_FILE");
    let value = lookup(var).filter(|v| !v.is_empty());
    let file = lookup(&file_var).filter(|v| !v.is_empty());
    let text = match (value, file) {
        (Some(_), Some(_)) => {
            return Err(Error::Config(format!(
                "{var} and {file_var} are both set: keep one"
            )));
        }
        (Some(value), None) => value,
        (None, Some(path)) => from_file(&file_var, Path::new(&path))?,
        (None, None) => return Ok(None),
    };
    Ok(Some(text).filter(|t| !t.is_empty()).map(SecretString::from))
}

fn from_file(file_var: &str, path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("{file_var}: cannot read {}: {e}", path.display())))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(text.strip_suffix('\r').unwrap_or(text).to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn value(r: Result<Option<SecretString>>) -> Option<String> {
        r.ok().flatten().map(|s| s.expose_secret().to_owned())
    }

    #[test]
    fn a_secret_comes_from_its_variable_or_its_file() {
        assert_eq!(
            value(read("X", &lookup(&[("X", "s3cret")]))),
            Some("s3cret".into())
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x");
        std::fs::write(&path, "from-a-file\n").expect("write");
        let file = path.display().to_string();
        assert_eq!(
            value(read("X", &lookup(&[("X_FILE", &file)]))),
            Some("from-a-file".into())
        );
        assert_eq!(value(read("X", &lookup(&[("X", "")]))), None);
    }

    #[test]
    fn both_or_an_unreadable_file_is_an_error_that_names_the_variable() {
        let both = read("X", &lookup(&[("X", "a"), ("X_FILE", "/f")])).err();
        assert!(both.is_some_and(|e| e.to_string().contains("X and X_FILE")));
        let missing = read("X", &lookup(&[("X_FILE", "/no/such/file")])).err();
        let message = missing.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("X_FILE: cannot read /no/such/file"),
            "{message}"
        );
    }
}
