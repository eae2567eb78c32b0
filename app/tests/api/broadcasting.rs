//! Broadcasting over the Pusher protocol, with a WebSocket client speaking it as pusher-js does:
//! a policy bound through one instance reaches a subscriber of another; only the channel's
//! tenant gets a signature, and a signature for another socket is refused.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async, tungstenite::Message};

use crate::{
    queue::worker_in,
    support::worker::REDIS,
    support::{Engine, PATIENCE, TenantClient, TestApp, spawn_app, spawn_with, unique},
};

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

const SECRET: &str = "a-broadcast-secret-shared-by-the-instances";

/// Flags and secrets for instances sharing the machine's Redis under a prefix of their own, with one
/// broadcast secret.
pub fn on_redis() -> Vec<String> {
    let prefix = format!("pstest:{}:", unique());
    let (redis, secret) = (
        format!("REDIS_URL={REDIS}"),
        format!("BROADCAST_APP_SECRET={SECRET}"),
    );
    [
        redis.as_str(),
        "--redis-prefix",
        &prefix,
        "--queue-prefix",
        &format!("{prefix}q:"),
        &secret,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The next Pusher message (pings answered), within `PATIENCE`.
pub async fn next(ws: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(text) = frame {
            return serde_json::from_str(text.as_str()).expect("JSON");
        }
    }
}

/// `data` as Pusher sends it: a JSON string.
pub fn data(message: &Value) -> Value {
    serde_json::from_str(message["data"].as_str().expect("data is a string")).expect("JSON data")
}

/// A socket on `app` and its id.
pub async fn connect(app: &TestApp, key: &str) -> (Socket, String) {
    let url = format!(
        "{}/app/{key}?protocol=7&client=js&version=8.4.0",
        app.address.replace("http", "ws")
    );
    let (mut ws, _) = connect_async(url).await.expect("WebSocket upgrade");
    let hello = next(&mut ws).await;
    if hello["event"] != "pusher:connection_established" {
        return (ws, String::new());
    }
    let socket_id = data(&hello)["socket_id"]
        .as_str()
        .expect("socket id")
        .to_owned();
    (ws, socket_id)
}

pub async fn authorize(t: &TenantClient, socket_id: &str, channel: &str) -> crate::support::Resp {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("socket_id", socket_id)
        .append_pair("channel_name", channel)
        .finish();
    t.send(
        t.request(reqwest::Method::POST, "/broadcasting/auth")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body),
    )
    .await
}

pub async fn subscribe(ws: &mut Socket, channel: &str, auth: &str) -> Value {
    let message = json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth}});
    ws.send(Message::Text(message.to_string().into()))
        .await
        .expect("send");
    next(ws).await
}

/// The seed's PolicyBound, from instance A (its worker relays the outbox) to a laravel-echo-like
/// subscriber of instance B, on both private channels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_bound_on_one_instance_reaches_a_subscriber_of_another() {
    let flags = on_redis();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let a = spawn_with(Engine::Sqlite, &flags).await;
    let b = a.replica(&flags).await;
    let _worker = worker_in(&a);
    let t = a.tenant().await;
    let on_b = b.client_for(&t.slug).await;
    let (mut ws, socket_id) = connect(&b, "policy-service").await;
    let channel = format!("private-tenant.{}", t.slug);
    let auth = authorize(&on_b, &socket_id, &channel).await;
    let auth = auth.ok(200)["auth"].as_str().expect("auth").to_owned();
    let joined = subscribe(&mut ws, &channel, &auth).await;
    assert_eq!(joined["event"], "pusher_internal:subscription_succeeded");
    assert_eq!(joined["channel"], channel.as_str());

    let policy = t.bound_policy().await;
    let got = next(&mut ws).await;
    assert_eq!(got["event"], "PolicyBound");
    assert_eq!(got["channel"], channel.as_str());
    let payload = data(&got);
    assert_eq!(payload["policy_id"], policy["id"]);
    assert_eq!(payload["policy_number"], policy["number"]);
    assert_eq!(payload["status"], "bound");
    assert!(
        chrono::DateTime::parse_from_rfc3339(payload["timestamp"].as_str().unwrap_or_default())
            .is_ok(),
        "ISO 8601: {payload}"
    );

    // The policy's own channel, from the same consumer.
    let id = policy["id"].as_str().expect("id");
    let policy_channel = format!("private-policy.{id}");
    let auth = authorize(&on_b, &socket_id, &policy_channel).await;
    let auth = auth.ok(200)["auth"].as_str().expect("auth").to_owned();
    let joined = subscribe(&mut ws, &policy_channel, &auth).await;
    assert_eq!(joined["event"], "pusher_internal:subscription_succeeded");
    t.action(&format!("/v1/policies/{id}/activate"))
        .await
        .ok(200);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let m = next(&mut ws).await;
        // The bind's copy for the policy channel is sent just after the tenant channel's: a busy
        // machine may relay it once the socket joined the policy channel too.
        if m["event"] == "PolicyBound" && m["channel"] == policy_channel.as_str() {
            continue;
        }
        assert_eq!(m["event"], "PolicyActivated");
        seen.push(m["channel"].as_str().unwrap_or_default().to_owned());
    }
    seen.sort();
    let mut wanted = vec![policy_channel, channel];
    wanted.sort();
    assert_eq!(seen, wanted);
}

/// A consumer gets signatures for its own tenant's channels only; the socket takes a signature
/// only for the socket it was made for; and it speaks ping/pong.
#[tokio::test]
async fn only_the_channels_tenant_may_join_and_signatures_are_per_socket() {
    let app = spawn_app(Engine::Sqlite).await;
    let (a, b) = (app.tenant().await, app.tenant().await);
    let policy = a.bound_policy().await;
    let (mut ws, socket_id) = connect(&app, "policy-service").await;
    let a_tenant = format!("private-tenant.{}", a.slug);
    let a_policy = format!("private-policy.{}", policy["id"].as_str().expect("id"));
    for channel in [&a_tenant, &a_policy] {
        authorize(&b, &socket_id, channel).await.problem(403, None);
        authorize(&a, &socket_id, channel).await.ok(200);
    }
    authorize(&a, "not-a-socket", &a_tenant)
        .await
        .problem(422, Some("socket_id"));
    authorize(&a, &socket_id, "presence-tenant.x")
        .await
        .problem(422, Some("channel_name"));
    // Not the form pusher-js posts: JSON is 415, a missing field 422 naming it.
    a.post("/broadcasting/auth", json!({"socket_id": socket_id}))
        .await
        .problem(415, None);
    let missing = a
        .request(reqwest::Method::POST, "/broadcasting/auth")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("socket_id={socket_id}"));
    a.send(missing).await.problem(422, Some("channel_name"));

    // A's signature, made for another socket: refused by this one.
    let other = authorize(&a, "1.1", &a_tenant).await;
    let forged = other.ok(200)["auth"].as_str().expect("auth").to_owned();
    let refused = subscribe(&mut ws, &a_tenant, &forged).await;
    assert_eq!(refused["event"], "pusher:error");
    assert_eq!(data(&refused)["code"], 4009);

    // The right one works, and nothing arrives for B's changes. A's first bind is relayed
    // (broadcast) by a job: settled first, or a busy machine delivers it after the subscription.
    app.settle().await;
    let auth = authorize(&a, &socket_id, &a_tenant).await;
    let auth = auth.ok(200)["auth"].as_str().expect("auth").to_owned();
    let joined = subscribe(&mut ws, &a_tenant, &auth).await;
    assert_eq!(joined["event"], "pusher_internal:subscription_succeeded");
    b.bound_policy().await;
    let mine = a.bound_policy().await;
    let got = next(&mut ws).await;
    assert_eq!(data(&got)["policy_id"], mine["id"], "only A's broadcast");

    ws.send(Message::Text(
        json!({"event": "pusher:ping", "data": {}})
            .to_string()
            .into(),
    ))
    .await
    .expect("ping");
    assert_eq!(next(&mut ws).await["event"], "pusher:pong");
}

/// An unknown app key is told so (4001) and closed.
#[tokio::test]
async fn an_unknown_app_key_is_refused() {
    let app = spawn_app(Engine::Sqlite).await;
    let url = format!("{}/app/another-app", app.address.replace("http", "ws"));
    let (mut ws, _) = connect_async(url).await.expect("WebSocket upgrade");
    let error = next(&mut ws).await;
    assert_eq!(error["event"], "pusher:error");
    assert_eq!(data(&error)["code"], 4001);
}

/// A server-sent-events reader: `(id, event, data)` per event, keep-alive comments skipped.
pub struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    pub async fn open(t: &TenantClient, channels: &str, last: Option<&str>) -> Sse {
        let mut request = t.request(
            reqwest::Method::GET,
            &format!("/v1/events/stream?channels={channels}"),
        );
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last);
        }
        let response = request.send().await.expect("stream");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().ok(),
            Some("text/event-stream")
        );
        Sse {
            response,
            buffer: String::new(),
        }
    }

    /// The next event within `within`, or `None`.
    pub async fn next(&mut self, within: Duration) -> Option<(String, String, Value)> {
        let until = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if event.is_empty() {
                    continue;
                }
                return Some((id, event, serde_json::from_str(&data).expect("JSON data")));
            }
            let chunk = tokio::time::timeout_at(until, self.response.chunk())
                .await
                .ok()?
                .expect("body chunk")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// The resume: an SSE client receives a bind, drops, misses two more, reconnects with
/// `Last-Event-ID`, and gets both, in order, once.
async fn resumes(app: &TestApp, settle: impl AsyncFn(&TenantClient)) {
    let t = app.tenant().await;
    // A policy channel with history from before the stream opened, and no event during it:
    // a resume must not replay that history.
    let older = t.bound_policy().await;
    settle(&t).await;
    let channels = format!(
        "tenant.{},policy.{}",
        t.slug,
        older["id"].as_str().expect("id")
    );
    let mut sse = Sse::open(&t, &channels, None).await;
    let first = t.bound_policy().await;
    let (cursor, event, data) = sse.next(PATIENCE).await.expect("an event");
    assert_eq!(event, "PolicyBound");
    assert_eq!(data["channel"], format!("private-tenant.{}", t.slug));
    assert_eq!(data["data"]["policy_id"], first["id"]);
    drop(sse);

    let missed = [t.bound_policy().await, t.bound_policy().await];
    settle(&t).await;
    let mut again = Sse::open(&t, &channels, Some(&cursor)).await;
    for policy in &missed {
        let (_, event, data) = again.next(PATIENCE).await.expect("a missed event");
        assert_eq!(event, "PolicyBound");
        assert_eq!(data["data"]["policy_id"], policy["id"]);
    }
    assert!(
        again.next(Duration::from_millis(500)).await.is_none(),
        "nothing twice"
    );

    let other = app.tenant().await;
    let refused = other
        .get(&format!("/v1/events/stream?channels=tenant.{}", t.slug))
        .await;
    refused.problem(403, None);
    t.get("/v1/events/stream?channels=claim.x")
        .await
        .problem(400, Some("channels"));
}

#[tokio::test]
async fn sse_resumes_after_a_disconnect_within_one_instance() {
    let app = spawn_app(Engine::Sqlite).await;
    let settle = async |_: &TenantClient| app.settle().await;
    resumes(&app, settle).await;
}

/// With Redis: the history is the channel's Redis stream, relayed by a worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resumes_from_redis_streams() {
    let flags = on_redis();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = spawn_with(Engine::Sqlite, &flags).await;
    let _worker = worker_in(&app);
    // The worker relays: settled once every event of the tenant's outbox is sent (a broadcast
    // is appended before its event is marked sent).
    let settle = async |t: &TenantClient| {
        crate::support::eventually("the outbox relayed", || async {
            let unsent: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
                    .fetch_one(t.db.pool())
                    .await
                    .unwrap_or(1);
            unsent == 0
        })
        .await
    };
    resumes(&app, settle).await;
}
