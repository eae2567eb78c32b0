//! Policy search: the index follows every change, finds by word prefixes, and never crosses
//! tenants.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{
    both_engines,
    support::{Engine, PATIENCE, TenantClient, TestApp, quote_body, spawn_app, unique},
};

both_engines!(
    policies_are_found_by_words_and_only_by_their_tenant,
    stopwords_are_words_too
);

/// A bound policy for a new insured named `name`.
pub async fn policy_of(t: &TenantClient, name: &str) -> Value {
    let email = format!("{}@example.org", unique());
    let insured = t
        .post("/v1/insureds", json!({"full_name": name, "email": email}))
        .await
        .id();
    let quote = t.post("/v1/quotes", quote_body(&insured)).await.id();
    t.post(&format!("/v1/quotes/{quote}/bind"), json!({}))
        .await
        .ok(201)
        .clone()
}

async fn found(app: &TestApp, t: &TenantClient, q: &str) -> Vec<String> {
    app.settle().await;
    let page = t.get(&format!("/v1/policies/search?q={q}")).await;
    page.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Searches for `q` until exactly `expected` is found (in order), for at most `PATIENCE`: an
/// index update that failed on a busy database is retried after a backoff, which `settle` does
/// not wait for. (What must not be found is checked once, after `settle`.)
async fn finds(app: &TestApp, t: &TenantClient, q: &str, expected: &[&str]) {
    let until = Instant::now() + PATIENCE;
    loop {
        let ids = found(app, t, q).await;
        if ids == expected {
            return;
        }
        assert!(
            Instant::now() < until,
            "{q}: found {ids:?}, not {expected:?}, within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn policies_are_found_by_words_and_only_by_their_tenant(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let ada = policy_of(&t, "Ada Lovelace").await;
    let grace = policy_of(&t, "Grace Hopper").await;
    let ada_id = ada["id"].as_str().unwrap().to_owned();
    let grace_id = grace["id"].as_str().unwrap().to_owned();

    finds(&app, &t, "ada%20love", &[ada_id.as_str()]).await;
    finds(&app, &t, "HOPPER", &[grace_id.as_str()]).await;
    finds(&app, &t, "bound", &[grace_id.as_str(), ada_id.as_str()]).await;
    assert!(found(&app, &t, "zebra").await.is_empty());

    // A change is followed: new notes, a new status.
    let path = format!("/v1/policies/{ada_id}");
    t.patch(&path, json!({"notes": "garage in Leeds"}))
        .await
        .ok(200);
    finds(&app, &t, "leeds", &[ada_id.as_str()]).await;
    t.action(&format!("{path}/activate")).await.ok(200);
    finds(&app, &t, "active", &[ada_id.as_str()]).await;

    // Another tenant finds none of them.
    let other = app.tenant().await;
    assert!(found(&app, &other, "ada").await.is_empty());

    // A query without a word finds nothing.
    assert!(found(&app, &t, "%21%21%21").await.is_empty());
}

/// Issue 23 (7): InnoDB's FULLTEXT left out its default stopwords (will, com, the, for, www…),
/// and every word is required, so "Will" and `will@example.com` were never found on MariaDB
/// while SQLite found both.
async fn stopwords_are_words_too(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let insured = t
        .post(
            "/v1/insureds",
            json!({"full_name": "Will The Forthwith", "email": "will@example.com"}),
        )
        .await
        .id();
    let quote = t.post("/v1/quotes", quote_body(&insured)).await.id();
    let policy = t
        .post(&format!("/v1/quotes/{quote}/bind"), json!({}))
        .await
        .id();
    for q in ["will", "Will%20the", "will%40example.com", "the%20for"] {
        finds(&app, &t, q, &[policy.as_str()]).await;
    }
    assert!(found(&app, &t, "www").await.is_empty());
}
