//! The shared key-value store: Redis, standalone or Redis Cluster, as one connection that every
//! concern using Redis shares (the cache's L2 and backplane now; queues and broadcasting later).
//!
//! Three promises, each closing a way Redis could hurt requests:
//! - **It never blocks a start.** The connection is made lazily, in the background: the service
//!   starts (and serves from its database) while Redis is down, and uses Redis from the moment a
//!   probe reaches it.
//! - **It never adds more than its timeout to a call** (`REDIS_TIMEOUT_MS`, 250 by default), and
//!   nothing once it is known down: a
//!   breaker (`breaker.rs`) opens after failures in a row, calls then fail at once, and a
//!   background probe closes it when Redis answers again.
//! - **Every call is measured**: `redis_duration_seconds{op}`, `redis_errors_total{op}`, a
//!   warning naming the operation, and a client span (`cache_read`, `db.system.name = redis`)
//!   under the request's; callers decide what a failure means (for the cache: a miss).
//!
//! `REDIS_URL` is one URL (`redis://` or `rediss://` for TLS, password in the URL), or, for a
//! cluster, a comma-separated list of nodes or one node with `REDIS_CLUSTER=true`. Over TLS the
//! server's certificate chains to the public roots or to `REDIS_TLS_CA_CERT_FILE`, and a client
//! certificate is shown when one is set. A certificate or a login refused at start stops the
//! start (`refuse_misconfigured`): that is a misconfiguration, not an outage, and waiting will
//! not mend it.

mod breaker;
pub mod settings;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use redis::{
    Cmd, Pipeline, RedisFuture, TlsCertificates, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::{ClusterClientBuilder, ClusterConfig},
    cluster_async::ClusterConnection,
};
use secrecy::ExposeSecret;
use tracing::{Instrument, Span, field::Empty};

use telemetry::episode::Episode;

use crate::platform::{
    error::{Error, Result},
    tls::Tls,
};
use breaker::{Breaker, PROBE_EVERY};
use settings::RedisConfig;

/// A connection to a standalone Redis or to a cluster; cheap to clone (both multiplex).
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Redis, shared by the process. The probe stops when it is dropped.
pub struct Redis {
    conn: Conn,
    /// The most one call may take.
    timeout: Duration,
    breaker: Arc<Breaker>,
    /// Where pub/sub connections go: each node in turn (in a cluster, a message published on
    /// any node reaches subscribers on every node).
    nodes: Vec<redis::Client>,
    /// Why Redis is failing, while it is (the probe's episode).
    episode: Arc<Episode>,
    probe: tokio::task::JoinHandle<()>,
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.probe.abort();
    }
}

/// The Redis that `REDIS_URL` names, or none when it is unset or empty (as a ConfigMap may set
/// it).
pub fn open(config: &RedisConfig, tls: &Tls) -> Result<Option<Arc<Redis>>> {
    match config.url.as_ref().map(|u| u.expose_secret().trim()) {
        None | Some("") => Ok(None),
        Some(url) => {
            let certs = config.certificates(url, tls)?;
            Redis::open(url, config.cluster, config.timeout, certs).map(Some)
        }
    }
}

impl Redis {
    /// Prepares the connection without waiting for it, each call bounded by `timeout`; must run
    /// inside the Tokio runtime.
    pub fn open(
        url: &str,
        cluster: bool,
        timeout: Duration,
        certs: Option<TlsCertificates>,
    ) -> Result<Arc<Redis>> {
        let bad = |e: redis::RedisError| Error::Config(format!("REDIS_URL: {e}"));
        let urls: Vec<&str> = url.split(',').map(str::trim).collect();
        let client = |u: &str| match &certs {
            Some(certs) => redis::Client::build_with_tls(u, certs.clone()),
            None => redis::Client::open(u),
        };
        let nodes = urls
            .iter()
            .map(|u| client(u).map_err(bad))
            .collect::<Result<Vec<_>>>()?;
        let conn = if cluster || urls.len() > 1 {
            let mut builder = ClusterClientBuilder::new(urls).retries(1);
            if let Some(certs) = certs {
                builder = builder.certs(certs);
            }
            let client = builder.build().map_err(bad)?;
            Conn::Cluster(
                client.get_pending_async_connection_with_config(
                    ClusterConfig::new()
                        .set_connection_timeout(timeout)
                        .set_response_timeout(timeout),
                ),
            )
        } else {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1);
            Conn::Single(
                ConnectionManager::new_lazy_with_config(nodes[0].clone(), config).map_err(bad)?,
            )
        };
        describe();
        let breaker = Arc::new(Breaker::opened());
        let episode = Arc::new(Episode::new("redis"));
        let probe = tokio::spawn(watch(
            conn.clone(),
            breaker.clone(),
            episode.clone(),
            timeout,
        ));
        Ok(Arc::new(Redis {
            conn,
            timeout,
            breaker,
            nodes,
            episode,
            probe,
        }))
    }

    /// At start: one PING bounded by the call timeout. A refused certificate (a CA that does
    /// not sign the server's, a host name it does not name) or a refused login (the ACL user or
    /// password in `REDIS_URL`) stops the start: waiting will not mend either. Redis down or
    /// slow does not: the service starts without it, as always.
    pub async fn refuse_misconfigured(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(self.timeout, ping.query_async::<String>(&mut conn)).await {
            Ok(Err(e)) if e.kind() == redis::ErrorKind::AuthenticationFailed => Err(Error::Config(
                format!("REDIS_URL: the server refused the login: {e}"),
            )),
            // rustls's refusal reaches us as text only ("invalid peer certificate: …").
            Ok(Err(e)) if e.to_string().contains("certificate") => Err(Error::Config(format!(
                "REDIS_URL: the server's TLS certificate was refused: {e}"
            ))),
            _ => Ok(()),
        }
    }

    /// Why Redis is failing, while it is: the cause the probe last saw (for readiness).
    pub fn failing_because(&self) -> Option<String> {
        self.episode.cause()
    }

    /// The most one call may take (and what the cache waits for other replicas' acks).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `call` on the connection, bounded by its timeout, unless the breaker is open.
    pub async fn call<T, F>(&self, op: &'static str, call: impl FnOnce(Conn) -> F) -> Result<T>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        if self.breaker.is_open() {
            metrics::counter!("redis_rejected_total", "op" => op).increment(1);
            return Err(Error::Unavailable(format!("redis {op}: breaker open")));
        }
        let span = if Span::current().is_none() {
            Span::none()
        } else {
            tracing::info_span!(
                "redis",
                otel.name = op,
                otel.kind = "client",
                otel.status_code = Empty,
                db.system.name = "redis",
                db.operation.name = op,
            )
        };
        let started = Instant::now();
        let bounded = tokio::time::timeout(self.timeout, call(self.conn.clone()));
        let outcome = match bounded.instrument(span.clone()).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(format!("{e}")),
            Err(_) => Err("timed out".to_owned()),
        };
        metrics::histogram!("redis_duration_seconds", "op" => op)
            .record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(v) => {
                self.breaker.succeeded();
                Ok(v)
            }
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                self.breaker.failed();
                metrics::counter!("redis_errors_total", "op" => op).increment(1);
                tracing::warn!(op, error = %e, "Redis call failed");
                Err(Error::Unavailable(format!("redis {op}: {e}")))
            }
        }
    }

    /// Whether calls go to Redis (the breaker is closed): readiness reports `degraded` if not.
    pub fn is_up(&self) -> bool {
        !self.breaker.is_open()
    }

    /// Waits up to `within` for the first probe to reach Redis (for one-shot commands).
    pub async fn wait_up(&self, within: Duration) -> bool {
        let until = Instant::now() + within;
        while !self.is_up() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.is_up()
    }

    /// The nodes, for connections of their own (pub/sub).
    pub fn nodes(&self) -> &[redis::Client] {
        &self.nodes
    }
}

/// The probe: while the breaker is open, pings every `PROBE_EVERY` and closes it on an answer.
/// Why it fails is an error line when the episode starts or its cause changes (a refused
/// certificate, a refused password, no answer), so an operator sees the cause at the default
/// level without a line every probe.
async fn watch(conn: Conn, breaker: Arc<Breaker>, episode: Arc<Episode>, timeout: Duration) {
    loop {
        if breaker.is_open() {
            let mut conn = conn.clone();
            let ping = redis::cmd("PING");
            match tokio::time::timeout(timeout, ping.query_async::<String>(&mut conn)).await {
                Ok(Ok(_)) => {
                    breaker.succeeded();
                    episode.succeeded();
                }
                Ok(Err(e)) => episode.failed(&telemetry::episode::causes(&e)),
                Err(_) => episode.failed("no answer within REDIS_TIMEOUT_MS"),
            }
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

fn describe() {
    metrics::describe_histogram!(
        "redis_duration_seconds",
        metrics::Unit::Seconds,
        "Redis calls by operation"
    );
    metrics::describe_counter!(
        "redis_errors_total",
        "Redis calls that failed or timed out, by operation"
    );
    metrics::describe_counter!(
        "redis_rejected_total",
        "Redis calls not made because the breaker was open, by operation"
    );
    metrics::describe_gauge!(
        "redis_breaker_open",
        "1 while Redis is considered down (calls fail at once), else 0"
    );
    metrics::describe_counter!(
        "redis_breaker_trips_total",
        "Times the breaker opened after failures in a row"
    );
    metrics::counter!("redis_breaker_trips_total").absolute(0);
}
