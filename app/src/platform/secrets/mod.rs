//! Configuration from secret stores, read at boot before anything connects (the seed's
//! SecretsServiceProvider and VaultService::getSecret), and laid over the environment:
//!
//! 1. AWS Secrets Manager, when `AWS_SECRETS_ID` names a secret (its endpoint through the SDK's
//!    standard `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SECRETS_MANAGER`);
//! 2. Vault's KV v2, when `VAULT_ADDR` and `VAULT_KV_PATH` are set (`vault`).
//!
//! Each holds a JSON object whose keys are the service's own variable names
//! (`{"DATABASE_URL": "mysql://…", "GATEWAY_SECRET": "…"}`), or the seed's Laravel config keys
//! (`{"database.connections.mysql.password": "…"}`, read as the variables Laravel fills them
//! from: `laravel_keys`). **Precedence**: a value from a
//! secret store wins over the environment and `.env`, as the seed's provider overwrote config;
//! Vault's wins over Secrets Manager's; a default applies only when none gives a value. The
//! variables that locate the stores (`AWS_SECRETS_ID`, `AWS_*` credentials and endpoints,
//! `VAULT_*`) cannot come from a store.
//!
//! A store that is set but missing, unreadable or malformed stops the start, with a message that
//! names the secret and the key at fault, never a value: a service must not run on half its
//! configuration.

mod aws;
pub mod laravel_keys;
pub mod leases;
pub mod settings;
pub mod vault;

use serde_json::Value;

/// Names that locate the stores: read from the environment only.
fn bootstrap(key: &str) -> bool {
    key.starts_with("AWS_") || key.starts_with("VAULT_")
}

/// What the stores gave: the variables to set, in order (later ones win), and warnings for the
/// keys left out.
#[derive(Default)]
pub struct Loaded {
    pub pairs: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

/// The variables from every configured store. `known` are the variables the service reads: a
/// key outside them is left out with a warning that names it (a typo is seen, and a secret
/// written for the seed, with keys of its own, still starts the service). `vault_token` is
/// VAULT_TOKEN, read by the caller.
pub async fn load(
    known: &[String],
    vault_token: Option<secrecy::SecretString>,
) -> Result<Loaded, String> {
    let mut loaded = Loaded::default();
    if let Some(id) = env("AWS_SECRETS_ID") {
        let source = format!("AWS secret {id}");
        let text = aws::read(&id).await?;
        variables(&source, parse(&source, &text)?, known, &mut loaded)?;
    }
    let vault = settings::VaultSettings::from_env(vault_token)
        .and_then(|v| v.vault(&crate::platform::tls::Tls::from_env()?))
        .map_err(|e| e.to_string())?;
    if let Some(vault) = vault
        && let Some(path) = env("VAULT_KV_PATH")
    {
        let mount = env("VAULT_KV_MOUNT").unwrap_or_else(|| "secret".to_owned());
        let (source, value) = vault.read_kv(&mount, &path).await?;
        variables(&source, value, known, &mut loaded)?;
    }
    Ok(loaded)
}

pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A secret's text as JSON; the error says where, not what (serde's message may quote a value).
fn parse(source: &str, text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| {
        format!(
            "{source} is not JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    })
}

/// The secret's JSON object as variables, into `loaded`. Errors name `source` and the key,
/// never a value.
fn variables(
    source: &str,
    value: Value,
    known: &[String],
    loaded: &mut Loaded,
) -> Result<(), String> {
    let Value::Object(map) = value else {
        return Err(format!("{source} is not a JSON object of variables"));
    };
    let given: Vec<String> = map.keys().cloned().collect();
    for (key, value) in map {
        if bootstrap(&key) {
            loaded.warnings.push(format!(
                "{source}: {key} locates the secret stores and is read from the environment only; ignored"
            ));
            continue;
        }
        // The seed's secret names Laravel's config keys: each is the variable Laravel reads.
        let key = match laravel_keys::variable(&key) {
            Some(var) if !map_has(&given, var) => var.to_owned(),
            Some(var) => {
                loaded.warnings.push(format!(
                    "{source}: {key} is Laravel's {var}, which the secret also sets; ignored"
                ));
                continue;
            }
            None => key,
        };
        if !known.contains(&key) {
            loaded.warnings.push(format!(
                "{source}: {key} is not a variable policy-service reads; ignored"
            ));
            continue;
        }
        let value = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(format!(
                    "{source}: {key} must be a string, a number or a boolean"
                ));
            }
        };
        loaded.pairs.push((key, value));
    }
    Ok(())
}

fn map_has(keys: &[String], var: &str) -> bool {
    keys.iter().any(|k| k == var)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        vec!["DATABASE_URL".into(), "PORT".into()]
    }

    #[test]
    fn keys_are_checked_and_values_never_shown() {
        let read = |text: &str| {
            let mut loaded = Loaded::default();
            parse("secret s", text)
                .and_then(|v| variables("secret s", v, &known(), &mut loaded))
                .map(|()| loaded)
        };
        let ok = read(r#"{"DATABASE_URL": "mysql://u:hunter2@db", "PORT": 8081}"#);
        assert_eq!(ok.map(|l| l.pairs.len()), Ok(2));
        // Keys it does not read are left out, each named in a warning; the rest is taken.
        for (text, named) in [
            (r#"{"DATABSE_URL": "hunter2", "PORT": 1}"#, "DATABSE_URL"),
            (
                r#"{"AWS_SECRETS_ID": "hunter2", "PORT": 1}"#,
                "AWS_SECRETS_ID",
            ),
        ] {
            let Ok(loaded) = read(text) else {
                panic!("{text} refused")
            };
            assert_eq!(loaded.pairs.len(), 1, "{text}");
            let warned = loaded.warnings.join(" ");
            assert!(
                warned.contains(named) && warned.contains("ignored"),
                "{warned}"
            );
            assert!(!warned.contains("hunter2"), "a value in {warned}");
        }
        for (text, named) in [
            (r#"{"PORT": {"x": "hunter2"}}"#, "PORT"),
            (r#"["hunter2"]"#, "object"),
            (r#"{"PORT": "hunter2""#, "not JSON"),
        ] {
            let Err(e) = read(text) else {
                panic!("{text} taken")
            };
            assert!(e.contains(named) && e.contains("secret s"), "{e}");
            assert!(!e.contains("hunter2"), "a value in {e}");
        }
    }

    #[test]
    fn the_seeds_secret_is_read_by_its_laravel_config_keys() {
        let known: Vec<String> = ["DB_HOST", "DB_PASSWORD", "REDIS_PASSWORD", "APP_KEY"]
            .map(String::from)
            .into();
        let text = r#"{
            "database.connections.mysql.host": "db.internal",
            "database.connections.mysql.password": "hunter2",
            "database.redis.default.password": "hunter3",
            "app.key": "base64:aGVsbG8=",
            "services.stripe.secret": "hunter4"
        }"#;
        let mut loaded = Loaded::default();
        parse("secret s", text)
            .and_then(|v| variables("secret s", v, &known, &mut loaded))
            .unwrap_or_else(|e| panic!("refused: {e}"));
        let mut pairs: Vec<(&str, &str)> = loaded
            .pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.sort();
        assert_eq!(
            pairs,
            [
                ("APP_KEY", "base64:aGVsbG8="),
                ("DB_HOST", "db.internal"),
                ("DB_PASSWORD", "hunter2"),
                ("REDIS_PASSWORD", "hunter3"),
            ]
        );
        let warned = loaded.warnings.join(" ");
        assert!(warned.contains("services.stripe.secret"), "{warned}");
        assert!(!warned.contains("hunter"), "a value in {warned}");

        // Both forms of one variable: the variable's own name wins, the config key is named.
        let mut loaded = Loaded::default();
        let both = r#"{"DB_PASSWORD": "a", "database.connections.mysql.password": "b"}"#;
        parse("secret s", both)
            .and_then(|v| variables("secret s", v, &known, &mut loaded))
            .unwrap_or_else(|e| panic!("refused: {e}"));
        assert_eq!(loaded.pairs, [("DB_PASSWORD".to_owned(), "a".to_owned())]);
        assert!(
            loaded
                .warnings
                .join(" ")
                .contains("database.connections.mysql.password")
        );
    }
}
