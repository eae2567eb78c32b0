//! Vault's variables, with the names Vault's own CLI reads (`VAULT_ADDR`, `VAULT_CACERT`,
//! `VAULT_NAMESPACE`, …): where it is, how it is trusted, and how the service logs in. The same
//! settings serve the boot overlay (read before the rest of the configuration: `from_env`) and
//! the database credentials' leases.

use std::path::PathBuf;

use clap::{Args, Parser};
use secrecy::SecretString;

use super::vault::{Auth, Login, Vault};
use crate::platform::{
    error::{Error, Result},
    tls::{Identity, Pem, Tls},
};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Vault")]
pub struct VaultSettings {
    /// Vault's (or OpenBao's) address, for DATABASE_CREDENTIALS=vault and the boot overlay.
    #[arg(long, env = "VAULT_ADDR")]
    pub vault_addr: Option<String>,

    /// VAULT_TOKEN (a secret).
    #[arg(skip)]
    pub vault_token: Option<SecretString>,

    /// CA (PEM) Vault's certificate may chain to, besides the TLS roots.
    #[arg(long, env = "VAULT_CACERT")]
    pub vault_cacert: Option<PathBuf>,

    /// Client certificate (PEM) for Vault's TLS certificate auth or a listener that checks
    /// clients, with VAULT_CLIENT_KEY.
    #[arg(long, env = "VAULT_CLIENT_CERT")]
    pub vault_client_cert: Option<PathBuf>,

    #[arg(long, env = "VAULT_CLIENT_KEY")]
    pub vault_client_key: Option<PathBuf>,

    /// The Vault Enterprise / OpenBao namespace every call is made in (`X-Vault-Namespace`).
    #[arg(long, env = "VAULT_NAMESPACE")]
    pub vault_namespace: Option<String>,

    /// The Vault role of a Kubernetes login (the pod's service account token).
    #[arg(long, env = "VAULT_K8S_ROLE")]
    pub vault_k8s_role: Option<String>,

    /// The service account token a Kubernetes login presents.
    #[arg(long, env = "VAULT_K8S_TOKEN_PATH")]
    pub vault_k8s_token_path: Option<PathBuf>,

    /// The mount of Vault's Kubernetes auth method (default `kubernetes`).
    #[arg(long, env = "VAULT_K8S_MOUNT")]
    pub vault_k8s_mount: Option<String>,

    /// The Vault role of a JWT login: a signed token (an EKS projected service account token,
    /// a CI's OIDC token) checked by Vault's JWT auth method against its issuer's keys.
    #[arg(long, env = "VAULT_JWT_ROLE")]
    pub vault_jwt_role: Option<String>,

    /// The file holding the JWT (re-read at each login: such tokens are rotated on disk).
    /// Default: the pod's service account token.
    #[arg(long, env = "VAULT_JWT_PATH")]
    pub vault_jwt_path: Option<PathBuf>,

    /// The mount of Vault's JWT auth method (default `jwt`).
    #[arg(long, env = "VAULT_JWT_MOUNT")]
    pub vault_jwt_mount: Option<String>,
}

/// Only Vault's settings, for the boot overlay, which runs before the rest is parsed.
#[derive(Parser)]
struct Only {
    #[command(flatten)]
    vault: VaultSettings,
}

const K8S_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

impl VaultSettings {
    /// From the process's environment (flags are not parsed yet at boot), with the token the
    /// caller read (`config::secret`: from VAULT_TOKEN or VAULT_TOKEN_FILE).
    pub fn from_env(token: Option<SecretString>) -> Result<VaultSettings> {
        let mut settings = Only::try_parse_from(["policy-service"])
            .map_err(|e| Error::Config(e.to_string()))?
            .vault;
        settings.vault_token = token;
        Ok(settings)
    }

    /// A client for VAULT_ADDR, or `None` when it is unset.
    pub fn vault(&self, tls: &Tls) -> Result<Option<Vault>> {
        let Some(addr) = self.vault_addr.as_deref().filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        let ca = Pem::optional("VAULT_CACERT", self.vault_cacert.as_ref())?;
        let identity = Identity::optional(
            Pem::optional("VAULT_CLIENT_CERT", self.vault_client_cert.as_ref())?,
            Pem::optional("VAULT_CLIENT_KEY", self.vault_client_key.as_ref())?,
        )?;
        let tls = tls.client(ca.as_ref(), identity.as_ref())?;
        Vault::new(addr, self.auth()?, self.vault_namespace.clone(), tls)
            .map(Some)
            .map_err(Error::Config)
    }

    /// A token if given; else a Kubernetes login, or a JWT login; an error if none.
    fn auth(&self) -> Result<Auth> {
        let token_file = |path: &Option<PathBuf>| path.clone().unwrap_or_else(|| K8S_TOKEN.into());
        let mount = |mount: &Option<String>, default: &str| {
            mount.clone().unwrap_or_else(|| default.to_owned())
        };
        match (
            &self.vault_token,
            &self.vault_k8s_role,
            &self.vault_jwt_role,
        ) {
            (Some(token), _, _) => Ok(Auth::Token(token.clone())),
            (None, Some(role), _) => Ok(Auth::Login(Login {
                method: "Kubernetes",
                role: role.clone(),
                jwt: token_file(&self.vault_k8s_token_path),
                mount: mount(&self.vault_k8s_mount, "kubernetes"),
            })),
            (None, None, Some(role)) => Ok(Auth::Login(Login {
                method: "JWT",
                role: role.clone(),
                jwt: token_file(&self.vault_jwt_path),
                mount: mount(&self.vault_jwt_mount, "jwt"),
            })),
            (None, None, None) => Err(Error::Config(
                "Vault needs VAULT_TOKEN, VAULT_K8S_ROLE or VAULT_JWT_ROLE".into(),
            )),
        }
    }
}
