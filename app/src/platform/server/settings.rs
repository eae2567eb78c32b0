//! The HTTP server's variables: where it listens, how long a client may take, how many it may
//! be at once, and how it stops.

use std::time::Duration;

use clap::Args;

use crate::platform::config::value::{any_secs, secs};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTP server")]
pub struct ServerConfig {
    /// Interface the HTTP server binds.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: String,

    /// Port of the HTTP API (0 picks a free one, as the tests do).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// Serve `/metrics` on this port instead of the API port, so it can stay off the gateway.
    /// Unset: `/metrics` is on the API port.
    #[arg(long, env = "METRICS_PORT")]
    pub metrics_port: Option<u16>,

    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Seconds a client has to send a whole request head, from its first byte (or from
    /// connecting); then the connection is closed.
    #[arg(id = "http_header_read_timeout_secs", long = "http-header-read-timeout-secs", env = "HTTP_HEADER_READ_TIMEOUT_SECS", default_value = "10", value_parser = secs)]
    pub header_read_timeout: Duration,

    /// Seconds an idle kept-alive connection stays open. Keep it above the mesh's upstream
    /// idle timeout.
    #[arg(id = "http_keep_alive_secs", long = "http-keep-alive-secs", env = "HTTP_KEEP_ALIVE_SECS", default_value = "75", value_parser = secs)]
    pub keep_alive: Duration,

    /// Client connections served at once. Past it, a few more are taken in to answer the health
    /// probes (any other request on them gets 503), then the rest wait in the listen backlog.
    #[arg(id = "http_max_connections", long = "http-max-connections", env = "HTTP_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,

    /// Bytes a second a client must keep up while the service waits on it mid-request (for its
    /// body, or for it to read the response); a slower one is closed once it owes the grace
    /// period's worth. 0 turns the rule off.
    #[arg(
        id = "http_min_data_rate",
        long = "http-min-data-rate",
        env = "HTTP_MIN_DATA_RATE",
        default_value_t = 240
    )]
    pub min_data_rate: u64,

    /// Seconds of waiting on a client before HTTP_MIN_DATA_RATE closes it.
    #[arg(id = "http_min_data_rate_grace_secs", long = "http-min-data-rate-grace-secs", env = "HTTP_MIN_DATA_RATE_GRACE_SECS", default_value = "5", value_parser = secs)]
    pub min_data_rate_grace: Duration,

    /// On SIGTERM, how long (s) readiness answers 503 (so the load balancer stops sending) while
    /// requests are still served, before the server stops accepting.
    #[arg(id = "shutdown_drain_secs", long = "shutdown-drain-secs", env = "SHUTDOWN_DRAIN_SECS", default_value = "5", value_parser = any_secs)]
    pub shutdown_drain: Duration,

    /// On SIGTERM, after draining, how long (s) in-flight requests may take before the server
    /// stops.
    #[arg(id = "shutdown_grace_secs", long = "shutdown-grace-secs", env = "SHUTDOWN_GRACE_SECS", default_value = "25", value_parser = any_secs)]
    pub shutdown_grace: Duration,
}

impl ServerConfig {
    pub fn limits(&self) -> super::Limits {
        super::Limits {
            header_read: self.header_read_timeout,
            keep_alive: self.keep_alive,
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            min_rate: self.min_data_rate as f64,
            grace: self.min_data_rate_grace,
        }
    }
}
