//! The probes Kubernetes calls. `live` checks nothing outside the process, so a database outage
//! never gets pods restarted; `ready` checks what requests need, each check timed and bounded.
//! Redis is not among them: requests are served without it (from the database), so its outage
//! makes the pod `degraded` (still 200), not unready: taking every replica out of the load
//! balancer for a cache outage would turn it into a full one.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use poem::web::Data;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags, payload::Json};

use crate::platform::Platform;

/// The probes' tag in a service's document.
#[derive(Tags)]
pub enum HealthTags {
    /// Liveness and readiness probes.
    Health,
}

/// A check slower than this fails: a database that takes longer for `SELECT 1` cannot serve,
/// and readiness must say so well within the probe's own timeout.
const CHECK_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
/// Outcome of a probe or of one check. `degraded`: served, but without something that only
/// makes it faster (Redis).
#[oai(rename_all = "lowercase", rename = "HealthStatus")]
pub enum Status {
    Ok,
    Degraded,
    Fail,
}

#[derive(Debug, Object)]
pub struct Check {
    /// What was checked: `landlord_db`, `redis`, or `draining` while shutting down.
    pub name: String,
    pub status: Status,
    /// How long the check took.
    pub latency_ms: f64,
    /// Why it failed or is degraded: `tls refused` (a certificate refused either way),
    /// `credentials refused`, `unavailable`, `timeout` or `shutting down`. The cause itself is
    /// logged, not shown: the probe is unauthenticated.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
}

#[derive(Debug, Object)]
pub struct Health {
    pub status: Status,
    /// One entry per dependency checked (none for liveness).
    pub checks: Vec<Check>,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Every check passed, or only Redis failed (`degraded`).
    #[oai(status = 200)]
    Ready(Json<Health>),
    /// A check failed; see `checks`.
    #[oai(status = 503)]
    NotReady(Json<Health>),
}

/// Runs one check, bounded by CHECK_TIMEOUT. The cause of a failure is logged, not returned:
/// the probe is unauthenticated and driver errors name users and hosts.
async fn timed<F, E>(name: &str, check: F) -> Check
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            let cause = e.to_string();
            tracing::warn!(check = name, error = %cause, "readiness check failed");
            Some(class(&cause))
        }
        Err(_) => {
            tracing::warn!(check = name, "readiness check timed out");
            Some("timeout")
        }
    };
    Check {
        name: name.to_owned(),
        status: if error.is_none() {
            Status::Ok
        } else {
            Status::Fail
        },
        latency_ms,
        error: error.map(str::to_owned),
    }
}

/// What kind of failure `cause` is, in words that name no user or host.
fn class(cause: &str) -> &'static str {
    let lower = cause.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if any(&["certificate", "tls", "handshake", "ssl"]) {
        "tls refused"
    } else if any(&[
        "password",
        "access denied",
        "authentication",
        "wrongpass",
        "noauth",
    ]) {
        "credentials refused"
    } else {
        "unavailable"
    }
}

pub struct HealthApi;

#[OpenApi(prefix_path = "/health", tag = "HealthTags::Health")]
impl HealthApi {
    /// Liveness: the process serves HTTP
    #[oai(path = "/live", method = "get", operation_id = "live")]
    async fn live(&self) -> Json<Health> {
        Json(Health {
            status: Status::Ok,
            checks: vec![],
        })
    }

    /// Readiness: the landlord database answers (Redis, when configured, is reported)
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self, state: Data<&Arc<Platform>>) -> ReadyResponse {
        let mut checks = vec![
            timed("landlord_db", async {
                sqlx::query("SELECT 1")
                    .execute(state.tenancy.landlord().pool())
                    .await
                    .map(|_| ())
            })
            .await,
        ];
        if let Some(kv) = &state.redis {
            let mut check = timed("redis", async {
                kv.call("ping", |mut c| async move {
                    redis::cmd("PING").query_async::<String>(&mut c).await
                })
                .await
                .map(|_| ())
            })
            .await;
            if check.status == Status::Fail {
                check.status = Status::Degraded;
                // The call fails at once while the breaker is open; the probe knows why.
                if let Some(cause) = kv.failing_because() {
                    check.error = Some(class(&cause).to_owned());
                }
            }
            checks.push(check);
        }
        if state.draining.load(Ordering::Relaxed) {
            checks.push(Check {
                name: "draining".into(),
                status: Status::Fail,
                latency_ms: 0.0,
                error: Some("shutting down".into()),
            });
        }
        let worst = |s| checks.iter().any(|c| c.status == s);
        let status = if worst(Status::Fail) {
            Status::Fail
        } else if worst(Status::Degraded) {
            Status::Degraded
        } else {
            Status::Ok
        };
        let ok = status != Status::Fail;
        let health = Health { status, checks };
        if ok {
            ReadyResponse::Ready(Json(health))
        } else {
            ReadyResponse::NotReady(Json(health))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::class;

    #[test]
    fn a_cause_is_told_by_its_kind_only() {
        let tls = "Client error: invalid peer certificate: UnknownIssuer";
        assert_eq!(class(tls), "tls refused");
        assert_eq!(
            class("WRONGPASS invalid username-password pair"),
            "credentials refused"
        );
        assert_eq!(class("Connection refused (os error 111)"), "unavailable");
    }
}
