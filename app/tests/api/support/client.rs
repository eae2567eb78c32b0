//! How a test calls the service as a tenant does, through Kong's headers, and reads what it
//! answers; the bodies and dates the tests share.

use policy_service::platform::db::Db;
use reqwest::Method;
use serde_json::{Value, json};

use super::unique;

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub content_type: String,
    pub body: Value,
}

impl Resp {
    pub async fn from(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp {
            status,
            headers,
            content_type,
            body,
        }
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        &self.body
    }

    #[track_caller]
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.body))
            .to_owned()
    }

    /// Asserts an RFC 9457 problem with this status (and field, when given).
    #[track_caller]
    pub fn problem(&self, status: u16, field: Option<&str>) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.content_type, "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status, "body: {}", self.body);
        assert!(
            self.body["type"].is_string() && self.body["title"].is_string(),
            "body: {}",
            self.body
        );
        if let Some(field) = field {
            assert_eq!(self.body["field"], field, "body: {}", self.body);
        }
        &self.body
    }

    #[track_caller]
    pub fn conflict(&self, code: &str) {
        self.problem(409, None);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
    }
}

/// Calls the API as one tenant's Kong consumer.
#[derive(Clone)]
pub struct TenantClient {
    pub slug: String,
    pub base: String,
    pub http: reqwest::Client,
    /// A connection of its own to the tenant's database (outside the service's pools and their
    /// budget), for setting up states the API forbids.
    pub db: Db,
}

impl TenantClient {
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("X-Consumer-ID", format!("consumer-{}", self.slug))
            .header("X-Authenticated-Userid", "user-1")
            .header("X-Consumer-Custom-ID", &self.slug)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        Resp::from(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::POST, path).json(&body))
            .await
    }

    /// POST with no body (state transitions such as activate).
    pub async fn action(&self, path: &str) -> Resp {
        self.send(self.request(Method::POST, path)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::PATCH, path).json(&body))
            .await
    }

    pub async fn insured(&self) -> Value {
        let email = format!("{}@example.com", unique());
        self.post(
            "/v1/insureds",
            json!({"full_name": "Ada Lovelace", "email": email}),
        )
        .await
        .ok(201)
        .clone()
    }

    pub async fn quote(&self, insured_id: &str) -> Value {
        self.post("/v1/quotes", quote_body(insured_id))
            .await
            .ok(201)
            .clone()
    }

    pub async fn bound_policy(&self) -> Value {
        let insured = self.insured().await;
        let quote = self
            .quote(insured["id"].as_str().expect("insured id"))
            .await;
        let path = format!(
            "/v1/quotes/{}/bind",
            quote["id"].as_str().expect("quote id")
        );
        self.post(&path, json!({})).await.ok(201).clone()
    }

    pub async fn active_policy(&self) -> Value {
        let policy = self.bound_policy().await;
        let path = format!(
            "/v1/policies/{}/activate",
            policy["id"].as_str().expect("policy id")
        );
        self.action(&path).await.ok(200).clone()
    }

    /// Moves a policy's term into the past (`days` ago to yesterday), as time would.
    pub async fn age_policy(&self, policy_id: &str, days: u64) {
        let day = |n: u64| (today() - chrono::Days::new(n)).to_string();
        sqlx::query("UPDATE policies SET effective_date = ?, expiry_date = ? WHERE id = ?")
            .bind(day(days))
            .bind(day(1))
            .bind(policy_id)
            .execute(self.db.pool())
            .await
            .expect("direct SQL");
    }

    /// Runs SQL on the tenant's database directly (for states no API call can make).
    pub async fn execute(&self, sql: &'static str) {
        sqlx::query(sql)
            .execute(self.db.pool())
            .await
            .expect("direct SQL");
    }
}

/// A valid quote: cover from today for a year.
pub fn quote_body(insured_id: &str) -> Value {
    let today = chrono::Utc::now().date_naive();
    json!({
        "insured_id": insured_id,
        "product": "auto",
        "currency": "EUR",
        "effective_date": today.to_string(),
        "expiry_date": (today + chrono::Days::new(364)).to_string(),
        "coverages": [
            {"code": "liability", "limit_minor": 100_000_000, "deductible_minor": 50_000, "premium_minor": 45_000},
            {"code": "collision", "limit_minor": 2_000_000, "deductible_minor": 30_000, "premium_minor": 30_000}
        ]
    })
}

pub fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// A problem with this status (and field), and not a server error.
#[track_caller]
pub fn rejected<'r>(r: &'r Resp, status: u16, field: Option<&str>) -> &'r Value {
    assert!(
        r.status < 500,
        "bad input got a server error {}: {}",
        r.status,
        r.body
    );
    r.problem(status, field)
}

/// POSTs a raw body as `application/json`.
pub async fn post_raw(t: &TenantClient, path: &str, body: impl Into<reqwest::Body>) -> Resp {
    t.send(
        t.request(Method::POST, path)
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}
