//! The read cache through the API: records and the active-policies page are served from it, and
//! every committed change is seen at once.

use serde_json::{Value, json};

use crate::{
    both_engines,
    support::{Engine, TenantClient, TestApp, spawn_app, spawn_with, today},
};

both_engines!(
    records_are_served_from_cache_and_fresh_after_changes,
    the_active_page_is_cached_and_fresh_after_a_payment_or_claim,
    with_redis_the_replicas_share_the_cache
);

/// A bound policy read six times costs one load; once activated, it reads active.
async fn cached_then_fresh(app: &TestApp, t: &TenantClient) -> Value {
    let policy = t.bound_policy().await;
    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap());
    t.get(&path).await.ok(200);
    let before = app.statements(&t.slug).await;
    for _ in 0..5 {
        assert_eq!(t.get(&path).await.ok(200)["status"], "bound");
    }
    assert_eq!(
        app.statements(&t.slug).await,
        before,
        "not served from the cache"
    );
    t.action(&format!("{path}/activate")).await.ok(200);
    assert_eq!(
        t.get(&path).await.ok(200)["status"],
        "active",
        "stale after a change"
    );
    policy
}

async fn records_are_served_from_cache_and_fresh_after_changes(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let policy = cached_then_fresh(&app, &t).await;
    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap());
    let quote = format!("/v1/quotes/{}", policy["quote_id"].as_str().unwrap());
    assert_eq!(t.get(&quote).await.ok(200)["status"], "bound");

    // Another tenant asking for the same id finds nothing, cached or not.
    let other = app.tenant().await;
    other.get(&path).await.problem(404, None);
}

async fn the_active_page_is_cached_and_fresh_after_a_payment_or_claim(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let policy = t.active_policy().await;
    let id = policy["id"].as_str().unwrap().to_owned();
    let page = "/v1/policies/active";
    t.get(page).await.ok(200);
    let before = app.statements(&t.slug).await;
    t.get(page).await.ok(200);
    assert_eq!(
        app.statements(&t.slug).await,
        before,
        "the page was not cached"
    );

    let paid = t
        .post(
            "/v1/payments",
            json!({"policy_id": id, "amount_minor": 4_500, "currency": "EUR", "method": "card"}),
        )
        .await;
    let payment_id = paid.ok(201)["id"].clone();
    let listed = t.get(page).await;
    assert_eq!(listed.ok(200)["items"][0]["last_payment"]["id"], payment_id);

    t.post(
        "/v1/claims",
        json!({"policy_id": id, "incident_date": today().to_string(), "description": "Hail", "amount_claimed_minor": 500}),
    )
    .await
    .ok(201);
    assert_eq!(t.get(page).await.ok(200)["items"][0]["claims_count"], 1);
}

/// An app with the machine's Redis as L2, under a prefix of its own (returned).
async fn on_redis(engine: Engine) -> (TestApp, String) {
    let prefix = format!("pstest:{}:", crate::support::unique());
    let flags = [
        "REDIS_URL=redis://127.0.0.1:6379",
        "--redis-prefix",
        &prefix,
    ];
    (spawn_with(engine, &flags).await, prefix)
}

/// With REDIS_URL, reads go through Redis (L2), shared by every replica: served from it, and
/// fresh after a change.
async fn with_redis_the_replicas_share_the_cache(engine: Engine) {
    let (app, _) = on_redis(engine).await;
    let t = app.tenant().await;
    let policy = cached_then_fresh(&app, &t).await;
    t.get("/v1/policies/active").await.ok(200);
    let listed = t.get("/v1/policies/active").await;
    assert_eq!(listed.ok(200)["items"][0]["policy"]["id"], policy["id"]);
}

/// Issue 23 (5): each page of the active list was cached in Redis for an hour under the
/// client's cursor, and any UUID is a cursor: a fresh one above every id stored another copy of
/// the whole first page, without end. Now only first pages are cached (one per page size), so
/// a flood of cursors adds nothing to L2, and every page size at once adds at most 100 keys.
#[tokio::test]
async fn cursors_cannot_fill_redis() {
    let (app, prefix) = on_redis(Engine::Sqlite).await;
    let t = app.tenant().await;
    for _ in 0..3 {
        t.active_policy().await;
    }
    let pages = || async {
        let mut conn = redis::Client::open("redis://127.0.0.1:6379")
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("redis");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}{{t:{}}}:active*", t.slug))
            .query_async(&mut conn)
            .await
            .expect("KEYS");
        keys.len()
    };
    t.get("/v1/policies/active").await.ok(200);
    let first = pages().await;
    for _ in 0..200 {
        // A v7 id made now sorts above every policy's: the "page after it" is the first page.
        let cursor = uuid::Uuid::now_v7();
        let page = t
            .get(&format!("/v1/policies/active?cursor={cursor}&limit=100"))
            .await;
        assert_eq!(page.ok(200)["items"].as_array().map(Vec::len), Some(3));
    }
    assert_eq!(pages().await, first, "cursors added L2 entries");
    for limit in 1..=100 {
        t.get(&format!("/v1/policies/active?limit={limit}"))
            .await
            .ok(200);
    }
    let all = pages().await;
    println!("active-list entries in L2: {first} after one read, {all} after every page size");
    assert!(all <= 100, "{all} active-list entries for one tenant");
}
