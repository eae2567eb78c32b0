//! The broadcasting variables: the Pusher app, and how many sockets and streams an instance (and
//! a tenant) may hold open. The caps are sized so that they bind before the pod's memory limit
//! does: an idle socket costs about what README's limits table says, measured by a test.

use clap::Args;
use secrecy::SecretString;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Broadcasting")]
pub struct BroadcastConfig {
    /// The Pusher app key clients connect with (`/app/{key}`; laravel-echo's `key`).
    #[arg(long, env = "BROADCAST_APP_KEY", default_value = "policy-service")]
    pub broadcast_app_key: String,

    /// BROADCAST_APP_SECRET (a secret: `platform::config::secret`).
    #[arg(skip)]
    pub broadcast_app_secret: Option<SecretString>,

    /// Pusher sockets one instance holds open at most; more are closed at once (4100).
    #[arg(long, env = "BROADCAST_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub broadcast_max_connections: u64,

    /// Event streams (`GET /v1/events/stream`) one instance holds open at most; more get 503.
    #[arg(long, env = "BROADCAST_MAX_STREAMS", default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub broadcast_max_streams: u64,

    /// Event streams one tenant may hold open on one instance; more get 429.
    #[arg(long, env = "BROADCAST_MAX_TENANT_STREAMS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub broadcast_max_tenant_streams: u64,

    /// Broadcasts kept per channel (in Redis Streams, or in memory without Redis).
    #[arg(long, env = "BROADCAST_HISTORY", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub broadcast_history: u64,
}

impl BroadcastConfig {
    pub fn caps(&self) -> super::admission::Caps {
        let n = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        super::admission::Caps {
            sockets: n(self.broadcast_max_connections),
            streams: n(self.broadcast_max_streams),
            tenant_streams: n(self.broadcast_max_tenant_streams),
        }
    }
}
