//! Partners, through the seed's Apache Camel service: `send(route, data)` posts
//! `{data, format: "json", tenant_id}` to `{CAMEL_URL}/camel/{route}` and returns the partner's
//! JSON answer (the seed's CamelIntegrationService).
//!
//! Each call is a client span carrying the trace in W3C and B3 headers (`telemetry::outbound`),
//! bounded by PARTNER_TIMEOUT_MS. Each route has its own circuit breaker (`breaker`), with the
//! seed's DestinationRule semantics: PARTNER_BREAKER_FAILURES failures in a row (timeouts,
//! connection errors, 5xx) open it for PARTNER_BREAKER_OPEN_SECS, then one probe decides. While
//! it is open a call fails at once, without touching the partner: the caller answers 503 with
//! `Retry-After`, or (a queued notice) tries again later. A 4xx means the partner understood and
//! refused: the route is up, the request is ours to fix.

pub mod settings;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use settings::PartnersConfig;

use crate::{
    platform::breaker::Breaker,
    platform::error::{Error, Result},
};

/// Routes the service calls.
pub const POLICY_BOUND: &str = "policy-bound";
pub const RATING: &str = "rating";

pub struct Partners {
    client: reqwest::Client,
    base: Option<String>,
    config: PartnersConfig,
    breakers: Mutex<HashMap<String, Arc<Breaker>>>,
}

impl Partners {
    pub fn new(config: &PartnersConfig) -> Result<Partners> {
        describe();
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(3)))
            .build()
            .map_err(|e| Error::Config(format!("partner HTTP client: {e}")))?;
        let base = config
            .camel_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(|u| u.trim_end_matches('/').to_owned());
        if let Some(url) = &base {
            url::Url::parse(url).map_err(|e| Error::Config(format!("CAMEL_URL: {e}")))?;
        }
        Ok(Partners {
            client,
            base,
            config: config.clone(),
            breakers: Mutex::default(),
        })
    }

    /// Whether a partner service is configured at all.
    pub fn configured(&self) -> bool {
        self.base.is_some()
    }

    fn breaker(&self, route: &str) -> Arc<Breaker> {
        let mut breakers = self.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        breakers
            .entry(route.to_owned())
            .or_insert_with(|| {
                Arc::new(Breaker::new(
                    &format!("partner:{route}"),
                    self.config.partner_breaker_failures,
                    self.config.breaker_open,
                ))
            })
            .clone()
    }

    /// Posts `data` for `tenant_id` to the partner route; its JSON answer (`null` if empty).
    pub async fn send(&self, route: &str, tenant_id: &str, data: Value) -> Result<Value> {
        let what = || format!("the partner route {route}");
        let Some(base) = &self.base else {
            return Err(Error::Unavailable(format!(
                "{} is not configured (CAMEL_URL)",
                what()
            )));
        };
        let breaker = self.breaker(route);
        let permit = breaker.call().map_err(|open| {
            metrics::counter!("partner_requests_total", "route" => route.to_owned(), "outcome" => "breaker_open").increment(1);
            Error::CircuitOpen {
                what: what(),
                retry_after: open.retry_after,
            }
        })?;
        let body = json!({"data": data, "format": "json", "tenant_id": tenant_id});
        let request = self
            .client
            .post(format!("{base}/camel/{route}"))
            .json(&body)
            .build()
            .map_err(|e| Error::Internal(format!("{}: {e}", what())))?;
        let started = Instant::now();
        let sent = telemetry::outbound::send(&self.client, request).await;
        metrics::histogram!("partner_request_duration_seconds", "route" => route.to_owned())
            .record(started.elapsed().as_secs_f64());
        let (outcome, result) = match sent {
            Ok(resp) if resp.status().is_success() => match resp.bytes().await {
                Ok(bytes) if bytes.is_empty() => ("ok", Ok(Value::Null)),
                Ok(bytes) => match serde_json::from_slice(&bytes) {
                    Ok(v) => ("ok", Ok(v)),
                    Err(e) => ("refused", Err(format!("answered with no JSON: {e}"))),
                },
                Err(e) => ("failed", Err(format!("its answer broke off: {e}"))),
            },
            Ok(resp) if resp.status().is_server_error() => {
                ("failed", Err(format!("answered {}", resp.status())))
            }
            Ok(resp) => ("refused", Err(format!("refused: {}", resp.status()))),
            Err(e) if e.is_timeout() => ("failed", Err("timed out".to_owned())),
            Err(e) => ("failed", Err(format!("unreachable: {e}"))),
        };
        metrics::counter!("partner_requests_total", "route" => route.to_owned(), "outcome" => outcome).increment(1);
        match (outcome, result) {
            (_, Ok(v)) => {
                permit.succeeded();
                Ok(v)
            }
            ("refused", Err(m)) => {
                permit.succeeded();
                tracing::error!(route, error = %m, "partner refused the request");
                Err(Error::Internal(format!("{} {m}", what())))
            }
            (_, Err(m)) => {
                permit.failed();
                tracing::warn!(route, error = %m, "partner call failed");
                Err(Error::Unavailable(format!("{} {m}; retry later", what())))
            }
        }
    }
}

pub fn describe() {
    metrics::describe_counter!(
        "partner_requests_total",
        "Calls to partner routes (Camel), by route and outcome (ok, failed, refused, breaker_open)"
    );
    metrics::describe_histogram!(
        "partner_request_duration_seconds",
        metrics::Unit::Seconds,
        "Calls to partner routes, by route"
    );
    crate::platform::breaker::describe();
}
