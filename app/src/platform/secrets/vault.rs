//! Vault (or OpenBao) over its HTTP API: a token from `VAULT_TOKEN` (or `VAULT_TOKEN_FILE`), or
//! a login with a signed token (`Login`): the Kubernetes auth method (`VAULT_K8S_ROLE`, the
//! pod's service account token) or the JWT auth method (`VAULT_JWT_ROLE`) — the same call,
//! `POST auth/{mount}/login {role, jwt}`, to two methods that check the token differently (the
//! Kubernetes one asks the cluster's TokenReview API, the JWT one the issuer's keys). A login's
//! token is kept, logged in again when two thirds of its lease have passed (before Vault lets
//! it expire) and when a call is refused with it. Every call carries `X-Vault-Namespace` when
//! VAULT_NAMESPACE is set, and speaks TLS with the service's roots plus VAULT_CACERT.
//!
//! Then calls: KV v2 reads at `{VAULT_KV_MOUNT}/data/{path}` (the seed's `secret/data/{path}`),
//! and the database engine's credentials and their leases (`leases`).

use std::{
    path::PathBuf,
    sync::Mutex,
    time::{Duration, Instant},
};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

pub enum Auth {
    Token(SecretString),
    Login(Login),
}

/// A login with a signed token read from `jwt` at each login.
pub struct Login {
    /// `Kubernetes` or `JWT`, for messages.
    pub method: &'static str,
    pub role: String,
    pub jwt: PathBuf,
    pub mount: String,
}

/// A login's token and when to log in again.
struct Session {
    token: SecretString,
    renew_at: Option<Instant>,
}

pub struct Vault {
    addr: String,
    auth: Auth,
    namespace: Option<String>,
    login: Mutex<Option<Session>>,
    http: reqwest::Client,
}

impl Vault {
    pub fn new(
        addr: &str,
        auth: Auth,
        namespace: Option<String>,
        tls: rustls::ClientConfig,
    ) -> Result<Vault, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .use_preconfigured_tls(tls)
            .build()
            .map_err(|e| format!("Vault HTTP client: {e}"))?;
        Ok(Vault {
            addr: addr.trim_end_matches('/').to_owned(),
            auth,
            namespace: namespace.filter(|n| !n.is_empty()),
            login: Mutex::new(None),
            http,
        })
    }

    /// A token to call with: the configured one, or a login's (kept until it is due).
    async fn token(&self) -> Result<SecretString, String> {
        let login = match &self.auth {
            Auth::Token(token) => return Ok(token.clone()),
            Auth::Login(login) => login,
        };
        if let Ok(session) = self.login.lock()
            && let Some(session) = session.as_ref()
            && session.renew_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(session.token.clone());
        }
        let Login {
            method,
            role,
            jwt,
            mount,
        } = login;
        let jwt = std::fs::read_to_string(jwt).map_err(|e| {
            format!(
                "cannot read the {method} login's token {}: {e}",
                jwt.display()
            )
        })?;
        let body = json!({"role": role, "jwt": jwt.trim()});
        let path = format!("auth/{mount}/login");
        let answer = self
            .call(reqwest::Method::POST, &path, None, Some(body))
            .await
            .map_err(|e| format!("Vault {method} login as {role} (auth/{mount}): {e}"))?;
        let token = answer["auth"]["client_token"]
            .as_str()
            .map(|t| SecretString::from(t.to_owned()))
            .ok_or_else(|| format!("Vault {method} login as {role} gave no token"))?;
        // A lease of 0 never expires (a root-like token): keep it.
        let lease = answer["auth"]["lease_duration"].as_u64().unwrap_or(0);
        let renew_at = (lease > 0).then(|| Instant::now() + Duration::from_secs(lease * 2 / 3));
        if let Ok(mut session) = self.login.lock() {
            *session = Some(Session {
                token: token.clone(),
                renew_at,
            });
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
            Err(e) if e.starts_with("403") && matches!(self.auth, Auth::Login(_)) => {
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
        if let Some(namespace) = &self.namespace {
            request = request.header("X-Vault-Namespace", namespace);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let built = request.build().map_err(|e| e.to_string())?;
        let resp = telemetry::outbound::send(&self.http, built)
            .await
            .map_err(|e| {
                let cause = telemetry::episode::causes(&e.without_url());
                format!("no answer from {}: {cause}", self.addr)
            })?;
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
