//! One TLS policy for every client the service opens (MariaDB, Redis, Kafka, S3, Vault, Loki,
//! the OTLP collector, partners): which certificates a server's must chain to, and which
//! certificate the service shows when a server checks clients.
//!
//! **Roots.** The system's (read by rustls-native-certs, which honours `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` as OpenSSL does), or Mozilla's (webpki-roots) where the image has none (a
//! distroless one), plus the bundle `TLS_EXTRA_CA_CERTS` names: one place to trust a private CA
//! for everything. Each backend adds its own setting, with the name its users know
//! (`MYSQL_ATTR_SSL_CA`, `REDIS_TLS_CA_CERT_FILE`, `VAULT_CACERT`,
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`, `LOKI_TLS_CA_FILE`, `AWS_CA_BUNDLE`, Kafka's
//! `ssl.ca.location`), added to these roots, never instead of them.
//!
//! **Verification** is always on for the clients built here: there is no switch to turn it off,
//! because a switch that exists gets left on in production. A test or a laptop trusts its own
//! CA through the settings above instead.
//!
//! Files are read once, at start, so a missing or malformed one stops the start naming its
//! variable and path.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use base64::Engine;
use clap::Args;
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};

use crate::platform::error::{Error, Result};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "TLS (every backend)")]
pub struct TlsSettings {
    /// A PEM bundle of CAs trusted by every client besides the system's roots (`SSL_CERT_FILE`
    /// and `SSL_CERT_DIR` replace those, as OpenSSL reads them): a private CA in one place.
    #[arg(long, env = "TLS_EXTRA_CA_CERTS")]
    pub extra_ca_certs: Option<PathBuf>,
}

/// A PEM file read at start: the variable it came from, for messages, and its bytes.
#[derive(Clone)]
pub struct Pem {
    pub var: &'static str,
    pub bytes: Vec<u8>,
}

impl Pem {
    /// The file `path` names, read now; its error names `var` and the path.
    pub fn read(var: &'static str, path: &Path) -> Result<Pem> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Config(format!("{var}: cannot read {}: {e}", path.display())))?;
        Ok(Pem { var, bytes })
    }

    /// `read` of an optional setting.
    pub fn optional(var: &'static str, path: Option<&PathBuf>) -> Result<Option<Pem>> {
        path.map(|p| Pem::read(var, p)).transpose()
    }

    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>> {
        let certs = CertificateDer::pem_slice_iter(&self.bytes)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Config(format!("{}: not PEM certificates: {e}", self.var)))?;
        if certs.is_empty() {
            return Err(Error::Config(format!("{}: holds no certificate", self.var)));
        }
        Ok(certs)
    }
}

/// A client certificate and its key, for a server that checks clients (mTLS).
#[derive(Clone)]
pub struct Identity {
    pub cert: Pem,
    pub key: Pem,
}

impl Identity {
    /// From a certificate and a key setting, which go together.
    pub fn optional(cert: Option<Pem>, key: Option<Pem>) -> Result<Option<Identity>> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(Identity { cert, key })),
            (None, None) => Ok(None),
            (Some(one), None) | (None, Some(one)) => Err(Error::Config(format!(
                "{}: a client certificate and its key go together: set both or neither",
                one.var
            ))),
        }
    }
}

/// The roots every client starts from, and how to build one client's TLS from them.
#[derive(Clone)]
pub struct Tls {
    extra: Option<Pem>,
}

impl Tls {
    /// The policy of `settings`: the extra bundle read (and checked) now.
    pub fn load(settings: &TlsSettings) -> Result<Tls> {
        let extra = Pem::optional("TLS_EXTRA_CA_CERTS", settings.extra_ca_certs.as_ref())?;
        if let Some(extra) = &extra {
            extra.certificates()?;
        }
        Ok(Tls { extra })
    }

    /// The policy from the process's environment, for what runs before the configuration is
    /// parsed (the secret stores).
    pub fn from_env() -> Result<Tls> {
        Tls::load(&TlsSettings {
            extra_ca_certs: std::env::var_os("TLS_EXTRA_CA_CERTS")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        })
    }

    /// The roots for a client of one backend: the system's, the extra bundle, and `ca`.
    pub fn roots(&self, ca: Option<&Pem>) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        match system_roots() {
            [] => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            system => {
                roots.add_parsable_certificates(system.iter().cloned());
            }
        }
        for pem in self.extra.iter().chain(ca) {
            for cert in pem.certificates()? {
                roots.add(cert).map_err(|e| {
                    Error::Config(format!("{}: a certificate rustls refuses: {e}", pem.var))
                })?;
            }
        }
        Ok(roots)
    }

    /// The same roots as one PEM bundle, for a client that takes nothing else (redis); where
    /// the system has no roots, only the bundles (Mozilla's are anchors, not certificates).
    pub fn pem_roots(&self, ca: Option<&Pem>) -> Result<Vec<u8>> {
        let mut pem = Vec::new();
        for cert in system_roots() {
            pem.extend_from_slice(pem_block(cert).as_bytes());
        }
        for extra in self.extra.iter().chain(ca) {
            extra.certificates()?;
            pem.extend_from_slice(&extra.bytes);
            pem.push(b'\n');
        }
        Ok(pem)
    }

    /// A rustls client configuration: these roots plus `ca`, showing `identity` when set.
    pub fn client(&self, ca: Option<&Pem>, identity: Option<&Identity>) -> Result<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS: {e}")))?
            .with_root_certificates(self.roots(ca)?);
        match identity {
            None => Ok(builder.with_no_client_auth()),
            Some(Identity { cert, key }) => {
                let chain = cert.certificates()?;
                let private = PrivateKeyDer::from_pem_slice(&key.bytes).map_err(|e| {
                    Error::Config(format!("{}: not a PEM private key: {e}", key.var))
                })?;
                builder
                    .with_client_auth_cert(chain, private)
                    .map_err(|e| Error::Config(format!("{} and {}: {e}", cert.var, key.var)))
            }
        }
    }
}

/// The system's roots, read once; empty where the system has none (Mozilla's are used then).
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        if !found.errors.is_empty() {
            tracing::warn!(errors = ?found.errors, "some system CA certificates could not be read");
        }
        if found.certs.is_empty() {
            tracing::info!("no system CA certificates; trusting Mozilla's roots (webpki-roots)");
        }
        found.certs
    })
}

fn pem_block(cert: &CertificateDer<'_>) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}
