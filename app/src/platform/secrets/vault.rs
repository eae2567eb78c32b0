//! Vault (or OpenBao) over its HTTP API: a token from `VAULT_TOKEN` (or `VAULT_TOKEN_FILE`), or a Kubernetes login
//! (`VAULT_K8S_ROLE` with the pod's service account token, kept and redone when refused), then
//! calls: KV v2 reads at `{VAULT_KV_MOUNT}/data/{path}` (the seed's `secret/data/{path}`), and
//! the database engine's credentials and their leases (`leases`).

use std::{path::PathBuf, sync::Mutex};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::env;
use crate::platform::config::secret;

const K8S_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

pub enum Auth {
    Token(SecretString),
    Kubernetes {
        role: String,
        jwt: PathBuf,
        mount: String,
    },
}

impl Auth {
    /// A token if given, else a Kubernetes role (with the token file and auth mount, or their
    /// defaults); an error if neither.
    pub fn from_parts(
        token: Option<SecretString>,
        role: Option<String>,
        jwt: Option<String>,
        mount: Option<String>,
    ) -> Result<Auth, String> {
        match (token, role) {
            (Some(token), _) => Ok(Auth::Token(token)),
            (None, Some(role)) => Ok(Auth::Kubernetes {
                role,
                jwt: jwt.unwrap_or_else(|| K8S_TOKEN.to_owned()).into(),
                mount: mount.unwrap_or_else(|| "kubernetes".to_owned()),
            }),
            (None, None) => Err("Vault needs VAULT_TOKEN or VAULT_K8S_ROLE".into()),
        }
    }
}

pub struct Vault {
    addr: String,
    auth: Auth,
    /// The Kubernetes login's token, once logged in.
    login: Mutex<Option<SecretString>>,
    http: reqwest::Client,
}

impl Vault {
    pub fn new(addr: &str, auth: Auth) -> Result<Vault, String> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("Vault HTTP client: {e}"))?;
        Ok(Vault {
            addr: addr.trim_end_matches('/').to_owned(),
            auth,
            login: Mutex::new(None),
            http,
        })
    }

    /// From `VAULT_ADDR` and its auth variables; `None` without `VAULT_ADDR`.
    pub fn from_env() -> Result<Option<Vault>, String> {
        let Some(addr) = env("VAULT_ADDR") else {
            return Ok(None);
        };
        let auth = Auth::from_parts(
            secret::read("VAULT_TOKEN", &secret::from_process).map_err(|e| e.to_string())?,
            env("VAULT_K8S_ROLE"),
            env("VAULT_K8S_TOKEN_PATH"),
            env("VAULT_K8S_MOUNT"),
        )?;
        Vault::new(&addr, auth).map(Some)
    }

    /// A token to call with: the configured one, or a Kubernetes login's (kept).
    async fn token(&self) -> Result<SecretString, String> {
        let (role, jwt, mount) = match &self.auth {
            Auth::Token(token) => return Ok(token.clone()),
            Auth::Kubernetes { role, jwt, mount } => (role, jwt, mount),
        };
        if let Some(token) = self.login.lock().ok().and_then(|l| l.clone()) {
            return Ok(token);
        }
        let jwt = std::fs::read_to_string(jwt).map_err(|e| {
            format!(
                "cannot read the service account token {}: {e}",
                jwt.display()
            )
        })?;
        let body = json!({"role": role, "jwt": jwt.trim()});
        let path = format!("auth/{mount}/login");
        let login = self.call(reqwest::Method::POST, &path, None, Some(body));
        let answer = login
            .await
            .map_err(|e| format!("Vault Kubernetes login as {role}: {e}"))?;
        let token = answer["auth"]["client_token"]
            .as_str()
            .map(|t| SecretString::from(t.to_owned()))
            .ok_or_else(|| format!("Vault Kubernetes login as {role} gave no token"))?;
        if let Ok(mut login) = self.login.lock() {
            *login = Some(token.clone());
        }
        Ok(token)
    }

    /// Calls `path` with a token; a refused login token is dropped and the call tried once
    /// more with a new one.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let token = self.token().await?;
        match self
            .call(method.clone(), path, Some(&token), body.clone())
            .await
        {
            Err(e) if e.starts_with("403") && matches!(self.auth, Auth::Kubernetes { .. }) => {
                if let Ok(mut login) = self.login.lock() {
                    *login = None;
                }
                let token = self.token().await?;
                self.call(method, path, Some(&token), body).await
            }
            other => other,
        }
    }

    /// KV v2 `path`'s data under `mount`, and the name of the secret (for messages).
    pub async fn read_kv(&self, mount: &str, path: &str) -> Result<(String, Value), String> {
        let name = format!("Vault secret {mount}/{path}");
        let data_path = format!("{mount}/data/{path}");
        let read = self.request(reqwest::Method::GET, &data_path, None);
        let mut answer = read.await.map_err(|e| format!("cannot read {name}: {e}"))?;
        match answer["data"]["data"].take() {
            Value::Null => Err(format!("{name} holds no data")),
            data => Ok((name, data)),
        }
    }

    /// One API call; an error says the status and Vault's own messages, never a secret.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&SecretString>,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method, format!("{}/v1/{path}", self.addr));
        if let Some(token) = token {
            request = request.header("X-Vault-Token", token.expose_secret());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let built = request.build().map_err(|e| e.to_string())?;
        let resp = telemetry::outbound::send(&self.http, built)
            .await
            .map_err(|e| format!("no answer from {}: {e}", self.addr))?;
        let status = resp.status();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let errors = answer["errors"].as_array().map(|e| {
                e.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            return Err(format!("{status} {}", errors.unwrap_or_default()));
        }
        Ok(answer)
    }
}
