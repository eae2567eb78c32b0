//! The seed's secret as the seed writes it. Its SecretsServiceProvider reads one JSON object
//! from Secrets Manager and sets each pair with `config([$key => $value])`: the keys are
//! Laravel's config keys (`database.connections.mysql.password`, `app.key`), not variables.
//! Each config key the service has a use for is read as the variable Laravel's own config
//! files fill it from (config/database.php reads `DB_PASSWORD` into that key), so the secret
//! starts the service unchanged; `config::laravel` then composes the URLs from those variables.
//! Any other key is left out with a warning that names it, as an unknown variable is.

/// The Laravel config key, and the variable Laravel's stock config files read it from.
const KEYS: &[(&str, &str)] = &[
    ("app.name", "APP_NAME"),
    ("app.env", "APP_ENV"),
    ("app.key", "APP_KEY"),
    ("app.url", "APP_URL"),
    ("database.default", "DB_CONNECTION"),
    ("queue.default", "QUEUE_CONNECTION"),
    ("broadcasting.default", "BROADCAST_DRIVER"),
];

/// The connections whose fields are Laravel's `DB_*` (config/database.php).
const DATABASES: &[&str] = &["mysql", "mariadb"];
/// The broadcasters whose credentials are the Pusher protocol's (config/broadcasting.php).
const BROADCASTERS: &[&str] = &["pusher", "reverb"];

/// The variable a Laravel config key is read from, if the service has a use for it.
pub fn variable(key: &str) -> Option<&'static str> {
    if let Some((_, var)) = KEYS.iter().find(|(k, _)| *k == key) {
        return Some(var);
    }
    if let Some(rest) = key.strip_prefix("database.connections.")
        && let Some((connection, field)) = rest.split_once('.')
        && DATABASES.contains(&connection)
    {
        return match field {
            "host" => Some("DB_HOST"),
            "port" => Some("DB_PORT"),
            "database" => Some("DB_DATABASE"),
            "username" => Some("DB_USERNAME"),
            "password" => Some("DB_PASSWORD"),
            _ => None,
        };
    }
    if let Some(field) = key.strip_prefix("database.redis.default.") {
        return match field {
            "host" => Some("REDIS_HOST"),
            "port" => Some("REDIS_PORT"),
            "username" => Some("REDIS_USERNAME"),
            "password" => Some("REDIS_PASSWORD"),
            _ => None,
        };
    }
    if let Some(rest) = key.strip_prefix("broadcasting.connections.")
        && let Some((broadcaster, field)) = rest.split_once('.')
        && BROADCASTERS.contains(&broadcaster)
    {
        return match field {
            "key" => Some("BROADCAST_APP_KEY"),
            "secret" => Some("BROADCAST_APP_SECRET"),
            _ => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::variable;

    #[test]
    fn the_seeds_config_keys_are_laravels_variables() {
        for (key, var) in [
            ("database.connections.mysql.password", Some("DB_PASSWORD")),
            ("database.connections.mariadb.host", Some("DB_HOST")),
            ("database.redis.default.password", Some("REDIS_PASSWORD")),
            (
                "broadcasting.connections.reverb.secret",
                Some("BROADCAST_APP_SECRET"),
            ),
            ("app.key", Some("APP_KEY")),
            ("queue.default", Some("QUEUE_CONNECTION")),
            // What the service has no use for stays unknown (and is warned about).
            ("database.connections.pgsql.password", None),
            ("database.connections.mysql.charset", None),
            ("services.stripe.secret", None),
            ("DB_PASSWORD", None),
        ] {
            assert_eq!(variable(key), var, "{key}");
        }
    }
}
