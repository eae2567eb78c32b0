//! Vault (or OpenBao) over its HTTP API: a token from `VAULT_TOKEN`, or a Kubernetes login
//! (`VAULT_K8S_ROLE` with the pod's service account token), then reads. KV v2 at
//! `{VAULT_KV_MOUNT}/data/{path}` (the seed's `secret/data/{path}`).

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::env;

const K8S_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

enum Auth {
    Token(SecretString),
    Kubernetes {
        role: String,
        jwt: PathBuf,
        mount: String,
    },
}

pub struct Vault {
    addr: String,
    auth: Auth,
    kv_mount: String,
    http: reqwest::Client,
}

impl Vault {
    /// From `VAULT_ADDR` and its auth variables; `None` without `VAULT_ADDR`.
    pub fn from_env() -> Result<Option<Vault>, String> {
        let Some(addr) = env("VAULT_ADDR") else {
            return Ok(None);
        };
        let auth = match (env("VAULT_TOKEN"), env("VAULT_K8S_ROLE")) {
            (Some(token), _) => Auth::Token(token.into()),
            (None, Some(role)) => Auth::Kubernetes {
                role,
                jwt: env("VAULT_K8S_TOKEN_PATH")
                    .unwrap_or_else(|| K8S_TOKEN.to_owned())
                    .into(),
                mount: env("VAULT_K8S_MOUNT").unwrap_or_else(|| "kubernetes".to_owned()),
            },
            (None, None) => {
                return Err("VAULT_ADDR is set but neither VAULT_TOKEN nor VAULT_K8S_ROLE".into());
            }
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("Vault HTTP client: {e}"))?;
        Ok(Some(Vault {
            addr: addr.trim_end_matches('/').to_owned(),
            auth,
            kv_mount: env("VAULT_KV_MOUNT").unwrap_or_else(|| "secret".to_owned()),
            http,
        }))
    }

    /// A token to call with: the configured one, or a Kubernetes login's.
    async fn token(&self) -> Result<SecretString, String> {
        let (role, jwt, mount) = match &self.auth {
            Auth::Token(token) => return Ok(token.clone()),
            Auth::Kubernetes { role, jwt, mount } => (role, jwt, mount),
        };
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
        answer["auth"]["client_token"]
            .as_str()
            .map(|t| SecretString::from(t.to_owned()))
            .ok_or_else(|| format!("Vault Kubernetes login as {role} gave no token"))
    }

    /// KV v2 `path`'s data, and the name of the secret (for messages).
    pub async fn read_kv(&self, path: &str) -> Result<(String, Value), String> {
        let name = format!("Vault secret {}/{path}", self.kv_mount);
        let token = self.token().await?;
        let data_path = format!("{}/data/{path}", self.kv_mount);
        let read = self.call(reqwest::Method::GET, &data_path, Some(&token), None);
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
