//! The read cache through the API: records and the active-policies page are served from it, and
//! every committed change is seen at once.

use serde_json::{Value, json};

use crate::{
    both_engines,
    helpers::{Engine, TenantClient, TestApp, spawn_app, spawn_with, today},
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

/// With REDIS_URL, reads go through Redis (L2), shared by every replica: served from it, and
/// fresh after a change.
async fn with_redis_the_replicas_share_the_cache(engine: Engine) {
    let prefix = format!("pstest:{}:", crate::helpers::unique());
    let app = spawn_with(
        engine,
        &[
            "--redis-url",
            "redis://127.0.0.1:6379",
            "--redis-prefix",
            &prefix,
        ],
    )
    .await;
    let t = app.tenant().await;
    let policy = cached_then_fresh(&app, &t).await;
    t.get("/v1/policies/active").await.ok(200);
    let listed = t.get("/v1/policies/active").await;
    assert_eq!(listed.ok(200)["items"][0]["policy"]["id"], policy["id"]);
}
