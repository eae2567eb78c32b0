//! A Camel-like partner the tests run in-process on a free port: it answers, fails (500),
//! hangs or refuses (400) on command, and keeps what it was sent.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU8, AtomicUsize, Ordering},
};

use poem::{
    EndpointExt, IntoResponse, Route, Server, handler,
    http::{HeaderMap, StatusCode},
    listener::{Acceptor, Listener, TcpListener},
    post,
    web::{Data, Json, Path},
};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Answer = 0,
    Fail = 1,
    Hang = 2,
    Refuse = 3,
}

#[derive(Default)]
struct Shared {
    mode: AtomicU8,
    calls: AtomicUsize,
    received: Mutex<Vec<(String, Value, HeaderMap)>>,
}

pub struct Partner {
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

#[handler]
async fn camel(
    Path(route): Path<String>,
    headers: &HeaderMap,
    Json(body): Json<Value>,
    shared: Data<&Arc<Shared>>,
) -> poem::Response {
    shared.calls.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut received) = shared.received.lock() {
        received.push((route.clone(), body, headers.clone()));
    }
    match shared.mode.load(Ordering::SeqCst) {
        0 => Json(json!({"premium_minor": 43210, "route": route})).into_response(),
        1 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        2 => {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

impl Partner {
    pub async fn start() -> Partner {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("partner listens");
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .expect("port");
        let shared = Arc::new(Shared::default());
        let app = Route::new()
            .at("/camel/:route", post(camel))
            .data(shared.clone());
        let server = tokio::spawn(async move {
            Server::new_with_acceptor(acceptor).run(app).await.ok();
        });
        Partner {
            url: format!("http://127.0.0.1:{port}"),
            shared,
            server,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    pub fn calls(&self) -> usize {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// What it was sent, in order: route, body, headers.
    pub fn received(&self) -> Vec<(String, Value, HeaderMap)> {
        self.shared
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl Drop for Partner {
    fn drop(&mut self) {
        self.server.abort();
    }
}
