//! The HTTP server's variables: how long a client may take, and how many it may be at once.

use std::time::Duration;

use clap::Args;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTP server")]
pub struct HttpConfig {
    /// Seconds a client has to send a whole request head, from its first byte (or from
    /// connecting); then the connection is closed.
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_header_read_timeout_secs: u64,

    /// Seconds an idle kept-alive connection stays open. Keep it above the mesh's upstream
    /// idle timeout.
    #[arg(long, env = "HTTP_KEEP_ALIVE_SECS", default_value_t = 75, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_keep_alive_secs: u64,

    /// Client connections served at once. Past it, a few more are taken in to answer the health
    /// probes (any other request on them gets 503), then the rest wait in the listen backlog.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_max_connections: u64,

    /// Bytes a second a client must keep up while the service waits on it mid-request (for its
    /// body, or for it to read the response); a slower one is closed once it owes the grace
    /// period's worth. 0 turns the rule off.
    #[arg(long, env = "HTTP_MIN_DATA_RATE", default_value_t = 240)]
    pub http_min_data_rate: u64,

    /// Seconds of waiting on a client before HTTP_MIN_DATA_RATE closes it.
    #[arg(long, env = "HTTP_MIN_DATA_RATE_GRACE_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_min_data_rate_grace_secs: u64,
}

impl HttpConfig {
    pub fn limits(&self) -> super::Limits {
        super::Limits {
            header_read: Duration::from_secs(self.http_header_read_timeout_secs),
            keep_alive: Duration::from_secs(self.http_keep_alive_secs),
            max_connections: usize::try_from(self.http_max_connections).unwrap_or(usize::MAX),
            min_rate: self.http_min_data_rate as f64,
            grace: Duration::from_secs(self.http_min_data_rate_grace_secs),
        }
    }
}
