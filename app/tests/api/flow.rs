//! Every endpoint's happy path, and the quote → bind → activate → pay → claim flow.

use serde_json::json;

use crate::{
    both_engines,
    support::{Engine, spawn_app, today},
};

both_engines!(
    quote_to_claim_flow,
    insureds_create_get_list_paginate,
    policy_update_cancel_expire
);

async fn quote_to_claim_flow(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;

    let insured = t.insured().await;
    let insured_id = insured["id"].as_str().unwrap();
    let quote = t.quote(insured_id).await;
    assert_eq!(quote["status"], "quoted");
    assert_eq!(quote["premium_minor"], 75_000);
    assert_eq!(quote["coverages"].as_array().unwrap().len(), 2);
    let quote_id = quote["id"].as_str().unwrap();
    assert_eq!(
        t.get(&format!("/v1/quotes/{quote_id}")).await.ok(200)["id"],
        quote_id
    );
    let listed = t.get(&format!("/v1/quotes?insured_id={insured_id}")).await;
    assert_eq!(listed.ok(200)["items"][0]["id"], quote_id);

    let policy = t
        .post(
            &format!("/v1/quotes/{quote_id}/bind"),
            json!({"notes": "first"}),
        )
        .await;
    let policy = policy.ok(201).clone();
    assert_eq!(policy["status"], "bound");
    assert_eq!(policy["quote_id"], quote_id);
    assert_eq!(policy["insured_id"], insured_id);
    assert!(policy["number"].as_str().unwrap().starts_with("POL-"));
    assert!(policy["bound_at"].is_string());
    assert_eq!(
        t.get(&format!("/v1/quotes/{quote_id}")).await.ok(200)["status"],
        "bound"
    );
    let policy_id = policy["id"].as_str().unwrap();

    let active = t
        .action(&format!("/v1/policies/{policy_id}/activate"))
        .await;
    assert_eq!(active.ok(200)["status"], "active");
    assert!(active.body["activated_at"].is_string());

    let payment = t
        .post(
            "/v1/payments",
            json!({"policy_id": policy_id, "amount_minor": 75_000, "currency": "EUR", "method": "card", "reference": "tx-1"}),
        )
        .await;
    let payment_id = payment.id();
    assert_eq!(payment.ok(201)["amount_minor"], 75_000);
    assert_eq!(
        t.get(&format!("/v1/payments/{payment_id}")).await.ok(200)["method"],
        "card"
    );
    let payments = t.get(&format!("/v1/payments?policy_id={policy_id}")).await;
    assert_eq!(payments.ok(200)["items"].as_array().unwrap().len(), 1);

    let claim = t
        .post(
            "/v1/claims",
            json!({"policy_id": policy_id, "incident_date": today().to_string(), "description": "Rear-ended at a light", "amount_claimed_minor": 120_000}),
        )
        .await;
    let claim_id = claim.id();
    assert_eq!(claim.ok(201)["status"], "open");
    for next in ["in_review", "approved", "closed"] {
        let moved = t
            .post(
                &format!("/v1/claims/{claim_id}/status"),
                json!({"status": next}),
            )
            .await;
        assert_eq!(moved.ok(200)["status"], next);
    }
    assert_eq!(
        t.get(&format!("/v1/claims/{claim_id}")).await.ok(200)["status"],
        "closed"
    );
    let claims = t
        .get(&format!("/v1/claims?policy_id={policy_id}&status=closed"))
        .await;
    assert_eq!(claims.ok(200)["items"][0]["id"], claim_id.as_str());

    let listed = t.get("/v1/policies/active").await;
    let item = &listed.ok(200)["items"][0];
    assert_eq!(item["policy"]["id"], policy_id);
    assert_eq!(item["insured"]["id"], insured_id);
    assert_eq!(item["coverages"].as_array().unwrap().len(), 2);
    assert_eq!(item["last_payment"]["id"], payment_id.as_str());
    assert_eq!(item["claims_count"], 1);
    assert_eq!(
        t.get("/v1/policies?status=active").await.ok(200)["items"][0]["id"],
        policy_id
    );
    assert_eq!(
        t.get("/v1/policies?status=bound").await.ok(200)["items"],
        json!([])
    );
}

async fn insureds_create_get_list_paginate(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let created = t
        .post(
            "/v1/insureds",
            json!({"full_name": "  Grace Hopper ", "email": "Grace@Example.COM", "date_of_birth": "1906-12-09"}),
        )
        .await;
    let body = created.ok(201);
    assert_eq!(body["full_name"], "Grace Hopper");
    assert_eq!(body["email"], "grace@example.com");
    assert_eq!(body["date_of_birth"], "1906-12-09");
    let id = created.id();
    assert_eq!(
        t.get(&format!("/v1/insureds/{id}")).await.ok(200)["email"],
        "grace@example.com"
    );
    let by_email = t.get("/v1/insureds?email=GRACE@example.com").await;
    assert_eq!(by_email.ok(200)["items"][0]["id"], id.as_str());

    for _ in 0..4 {
        t.insured().await;
    }
    let first = t.get("/v1/insureds?limit=2").await;
    let first = first.ok(200);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let mut seen: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].to_string())
        .collect();
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let page = t
            .get(&format!("/v1/insureds?limit=2&cursor={cursor}"))
            .await;
        let page = page.ok(200);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "pages overlap: {seen:?}");
}

async fn policy_update_cancel_expire(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let policy = t.active_policy().await;
    let id = policy["id"].as_str().unwrap();
    let sooner = (today() + chrono::Days::new(200)).to_string();
    let patched = t
        .patch(
            &format!("/v1/policies/{id}"),
            json!({"expiry_date": sooner, "notes": "shortened"}),
        )
        .await;
    assert_eq!(patched.ok(200)["expiry_date"], sooner.as_str());
    assert_eq!(patched.body["notes"], "shortened");
    assert_eq!(
        t.get(&format!("/v1/policies/{id}")).await.ok(200)["notes"],
        "shortened"
    );

    t.age_policy(id, 30).await;
    let expired = t.action(&format!("/v1/policies/{id}/expire")).await;
    assert_eq!(expired.ok(200)["status"], "expired");
    assert!(expired.body["ended_at"].is_string());

    let bound = t.bound_policy().await;
    let bound_id = bound["id"].as_str().unwrap();
    let cancelled = t
        .post(
            &format!("/v1/policies/{bound_id}/cancel"),
            json!({"reason": "customer request"}),
        )
        .await;
    assert_eq!(cancelled.ok(200)["status"], "cancelled");
    assert_eq!(cancelled.body["cancellation_reason"], "customer request");
}
