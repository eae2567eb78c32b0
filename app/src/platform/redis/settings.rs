//! Redis's variables: where it is, how it is trusted over TLS, and how long one call may take.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use redis::{ClientTlsConfig, TlsCertificates};
use secrecy::SecretString;

use crate::platform::{
    config::value::{Unit, duration},
    error::Result,
    tls::{Identity, Pem, Tls},
};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Redis and the cache")]
pub struct RedisConfig {
    /// REDIS_URL (a secret: `platform::config::secret`).
    #[arg(skip)]
    pub url: Option<SecretString>,

    /// `REDIS_URL` is a node of a Redis Cluster (implied by a list of nodes).
    #[arg(
        id = "redis_cluster",
        long = "redis-cluster",
        env = "REDIS_CLUSTER",
        default_value_t = false
    )]
    pub cluster: bool,

    /// The most one Redis call may take (ms), and how long a write waits for the other replicas
    /// to acknowledge its invalidations; past it, the call fails (a cache read is then a miss).
    #[arg(id = "redis_timeout_ms", long = "redis-timeout-ms", env = "REDIS_TIMEOUT_MS", default_value = "250", value_parser = duration(Unit::Millis, 10, 60_000))]
    pub timeout: Duration,

    /// CA bundle (PEM) that a `rediss://` server's certificate may chain to, besides the TLS
    /// roots (TLS_EXTRA_CA_CERTS): a private CA, as redis-server's `tls-ca-cert-file`.
    #[arg(long = "redis-tls-ca-cert-file", env = "REDIS_TLS_CA_CERT_FILE")]
    pub tls_ca_cert_file: Option<PathBuf>,

    /// Client certificate (PEM) for a server that checks clients (`tls-auth-clients yes`), with
    /// REDIS_TLS_KEY_FILE.
    #[arg(long = "redis-tls-cert-file", env = "REDIS_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// The client certificate's private key (PEM).
    #[arg(long = "redis-tls-key-file", env = "REDIS_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
}

impl RedisConfig {
    /// The roots and client certificate for a `rediss://` URL, read now so that a missing file
    /// stops the start naming its variable: the TLS policy's roots (`platform::tls`) plus
    /// REDIS_TLS_CA_CERT_FILE. `None` for a plain `redis://` URL.
    pub fn certificates(&self, url: &str, tls: &Tls) -> Result<Option<TlsCertificates>> {
        if !url.trim_start().starts_with("rediss://") {
            return Ok(None);
        }
        let ca = Pem::optional("REDIS_TLS_CA_CERT_FILE", self.tls_ca_cert_file.as_ref())?;
        let identity = Identity::optional(
            Pem::optional("REDIS_TLS_CERT_FILE", self.tls_cert_file.as_ref())?,
            Pem::optional("REDIS_TLS_KEY_FILE", self.tls_key_file.as_ref())?,
        )?;
        Ok(Some(TlsCertificates {
            client_tls: identity.map(|i| ClientTlsConfig {
                client_cert: i.cert.bytes,
                client_key: i.key.bytes,
            }),
            root_cert: Some(tls.pem_roots(ca.as_ref())?),
        }))
    }
}
