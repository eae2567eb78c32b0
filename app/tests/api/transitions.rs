//! Every illegal state transition is a 409 with a machine-readable `code`; binds are idempotent.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    both_engines,
    support::{Engine, Resp, TenantClient, spawn_app, today},
};

both_engines!(
    a_cancellation_ends_cover_after_every_payment_it_let_through,
    idempotency_keys_are_exact_and_owned,
    quotes_bind_once_and_not_when_expired,
    payments_and_claims_need_an_open_policy,
    illegal_policy_moves,
    illegal_claim_moves,
    transitions_on_unknown_ids,
    idempotent_bind,
    concurrent_idempotent_binds,
);

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}"))
}

fn random_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn bind(t: &TenantClient, quote_id: &str, key: Option<&str>, body: Value) -> Resp {
    let mut req = t
        .request(Method::POST, &format!("/v1/quotes/{quote_id}/bind"))
        .json(&body);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    t.send(req).await
}

async fn pay(t: &TenantClient, policy_id: &str) -> Resp {
    t.post(
        "/v1/payments",
        json!({"policy_id": policy_id, "amount_minor": 1_000, "currency": "EUR", "method": "bank_transfer"}),
    )
    .await
}

async fn claim(t: &TenantClient, policy_id: &str) -> Resp {
    t.post(
        "/v1/claims",
        json!({"policy_id": policy_id, "incident_date": today().to_string(), "description": "Hail", "amount_claimed_minor": 500}),
    )
    .await
}

async fn cancel(t: &TenantClient, policy_id: &str) -> Resp {
    t.post(
        &format!("/v1/policies/{policy_id}/cancel"),
        json!({"reason": "customer request"}),
    )
    .await
}

async fn move_claim(t: &TenantClient, claim_id: &str, to: &str) -> Resp {
    t.post(
        &format!("/v1/claims/{claim_id}/status"),
        json!({"status": to}),
    )
    .await
}

async fn quotes_bind_once_and_not_when_expired(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let insured = t.insured().await;
    let quote = t.quote(id(&insured)).await;
    bind(&t, id(&quote), None, json!({})).await.ok(201);
    bind(&t, id(&quote), None, json!({}))
        .await
        .conflict("quote_already_bound");
    bind(&t, id(&quote), None, json!({"notes": "again"}))
        .await
        .conflict("quote_already_bound");

    // No API call makes a quote's valid_until past, so set it directly (the bound one reads
    // as bound whatever its date).
    let stale = t.quote(id(&insured)).await;
    t.execute("UPDATE quotes SET valid_until = '2000-01-01'")
        .await;
    let read = t.get(&format!("/v1/quotes/{}", id(&stale))).await;
    assert_eq!(read.ok(200)["status"], "expired");
    assert_eq!(
        t.get(&format!("/v1/quotes/{}", id(&quote))).await.ok(200)["status"],
        "bound"
    );
    bind(&t, id(&stale), None, json!({}))
        .await
        .conflict("quote_expired");
    bind(&t, id(&stale), Some("stale-1"), json!({}))
        .await
        .conflict("quote_expired");
    let read = t.get(&format!("/v1/quotes/{}", id(&stale))).await;
    assert_eq!(
        read.ok(200)["status"],
        "expired",
        "a refused bind changes nothing"
    );
    assert_eq!(
        t.get("/v1/policies").await.ok(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn payments_and_claims_need_an_open_policy(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;

    let bound = t.bound_policy().await;
    assert_eq!(pay(&t, id(&bound)).await.ok(201)["policy_id"], id(&bound));
    claim(&t, id(&bound)).await.conflict("policy_not_active");

    let cancelled = t.bound_policy().await;
    cancel(&t, id(&cancelled)).await.ok(200);
    pay(&t, id(&cancelled)).await.conflict("policy_not_payable");
    claim(&t, id(&cancelled))
        .await
        .conflict("policy_not_active");

    let expired = t.active_policy().await;
    t.age_policy(id(&expired), 30).await;
    t.action(&format!("/v1/policies/{}/expire", id(&expired)))
        .await
        .ok(200);
    pay(&t, id(&expired)).await.conflict("policy_not_payable");
    // An expired policy takes claims for losses inside its cover only: today is past it.
    claim(&t, id(&expired))
        .await
        .problem(422, Some("incident_date"));

    let active = t.active_policy().await;
    pay(&t, id(&active)).await.ok(201);
    claim(&t, id(&active)).await.ok(201);
    let paid = t.get("/v1/payments?limit=100").await;
    assert_eq!(paid.ok(200)["items"].as_array().unwrap().len(), 2);
    let claims = t.get("/v1/claims?limit=100").await;
    assert_eq!(claims.ok(200)["items"].as_array().unwrap().len(), 1);
}

async fn illegal_policy_moves(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let policy_path = |p: &Value, action: &str| format!("/v1/policies/{}{action}", id(p));

    let active = t.active_policy().await;
    t.action(&policy_path(&active, "/activate"))
        .await
        .conflict("invalid_policy_transition");

    let bound = t.bound_policy().await;
    t.action(&policy_path(&bound, "/expire"))
        .await
        .conflict("invalid_policy_transition");
    let read = t.get(&policy_path(&bound, "")).await;
    assert_eq!(read.ok(200)["status"], "bound");

    // PATCH keeps the term after its start, and wants at least one change.
    let effective = bound["effective_date"].as_str().unwrap();
    let r = t
        .patch(&policy_path(&bound, ""), json!({"expiry_date": effective}))
        .await;
    r.problem(422, Some("expiry_date"));
    let before = (today() - chrono::Days::new(30)).to_string();
    let r = t
        .patch(&policy_path(&bound, ""), json!({"expiry_date": before}))
        .await;
    r.problem(422, Some("expiry_date"));
    t.patch(&policy_path(&bound, ""), json!({}))
        .await
        .problem(422, Some("body"));
    t.patch(&policy_path(&bound, ""), json!({"notes": null}))
        .await
        .problem(422, Some("body"));

    cancel(&t, id(&bound)).await.ok(200);
    for action in ["/activate", "/expire"] {
        t.action(&policy_path(&bound, action))
            .await
            .conflict("invalid_policy_transition");
    }
    cancel(&t, id(&bound))
        .await
        .conflict("invalid_policy_transition");
    t.patch(&policy_path(&bound, ""), json!({"notes": "too late"}))
        .await
        .conflict("policy_closed");

    t.action(&policy_path(&active, "/expire"))
        .await
        .conflict("policy_not_due");
    t.age_policy(id(&active), 30).await;
    t.action(&policy_path(&active, "/expire")).await.ok(200);
    t.action(&policy_path(&active, "/expire"))
        .await
        .conflict("invalid_policy_transition");
    cancel(&t, id(&active))
        .await
        .conflict("invalid_policy_transition");
    t.patch(&policy_path(&active, ""), json!({"notes": "too late"}))
        .await
        .conflict("policy_closed");
    let read = t.get(&policy_path(&active, "")).await;
    assert_eq!(read.ok(200)["status"], "expired");
    assert!(read.body["notes"].is_null(), "{}", read.body);
}

async fn illegal_claim_moves(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let policy = t.active_policy().await;
    let claim_id = claim(&t, id(&policy)).await.ok(201).clone();
    let claim_id = id(&claim_id);

    for to in ["approved", "rejected", "closed", "open"] {
        move_claim(&t, claim_id, to)
            .await
            .conflict("invalid_claim_transition");
    }
    move_claim(&t, claim_id, "in_review").await.ok(200);
    for to in ["closed", "in_review", "open"] {
        let refused = move_claim(&t, claim_id, to).await;
        refused.conflict("invalid_claim_transition");
        // Statuses are named as the API spells them (it once said `inreview`).
        let detail = refused.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("status in_review"), "{detail}");
    }
    move_claim(&t, claim_id, "rejected").await.ok(200);
    move_claim(&t, claim_id, "approved")
        .await
        .conflict("invalid_claim_transition");
    move_claim(&t, claim_id, "closed").await.ok(200);
    for to in ["in_review", "approved", "rejected", "closed", "open"] {
        move_claim(&t, claim_id, to)
            .await
            .conflict("invalid_claim_transition");
    }
    let read = t.get(&format!("/v1/claims/{claim_id}")).await;
    assert_eq!(read.ok(200)["status"], "closed");
}

async fn transitions_on_unknown_ids(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let unknown = random_id();
    bind(&t, &unknown, None, json!({})).await.problem(404, None);
    bind(&t, &unknown, Some("k-unknown"), json!({}))
        .await
        .problem(404, None);
    for action in ["activate", "expire"] {
        t.action(&format!("/v1/policies/{unknown}/{action}"))
            .await
            .problem(404, None);
    }
    cancel(&t, &unknown).await.problem(404, None);
    t.patch(&format!("/v1/policies/{unknown}"), json!({"notes": "x"}))
        .await
        .problem(404, None);
    move_claim(&t, &unknown, "in_review")
        .await
        .problem(404, None);

    // Another tenant's records are unknown here too.
    let other = app.tenant().await;
    let theirs = other.bound_policy().await;
    t.action(&format!("/v1/policies/{}/activate", id(&theirs)))
        .await
        .problem(404, None);
    bind(&t, theirs["quote_id"].as_str().unwrap(), None, json!({}))
        .await
        .problem(404, None);
}

async fn idempotent_bind(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let insured = t.insured().await;
    let quote = t.quote(id(&insured)).await;

    let first = bind(&t, id(&quote), Some("key-1"), json!({})).await;
    let policy_id = id(first.ok(201)).to_owned();
    let again = bind(&t, id(&quote), Some("key-1"), json!({})).await;
    assert_eq!(id(again.ok(200)), policy_id);
    assert_eq!(again.body["status"], "bound");

    // The same key with another body, or for another quote, is a client bug.
    bind(&t, id(&quote), Some("key-1"), json!({"notes": "x"}))
        .await
        .problem(422, Some("Idempotency-Key"));
    let other = t.quote(id(&insured)).await;
    bind(&t, id(&other), Some("key-1"), json!({}))
        .await
        .problem(422, Some("Idempotency-Key"));
    let read = t.get(&format!("/v1/quotes/{}", id(&other))).await;
    assert_eq!(read.ok(200)["status"], "quoted");

    // A new key is a new request: the quote is already bound.
    bind(&t, id(&quote), Some("key-2"), json!({}))
        .await
        .conflict("quote_already_bound");
    bind(&t, id(&quote), None, json!({}))
        .await
        .conflict("quote_already_bound");
    // The failed key was not recorded: it binds the other quote.
    let second = bind(&t, id(&other), Some("key-2"), json!({"notes": "n"})).await;
    let second_id = id(second.ok(201)).to_owned();
    assert_ne!(second_id, policy_id);
    let replay = bind(&t, id(&other), Some("key-2"), json!({"notes": "n"})).await;
    assert_eq!(id(replay.ok(200)), second_id);
    assert_eq!(replay.body["notes"], "n");

    // Keys are per tenant: another tenant may use the same key.
    let t2 = app.tenant().await;
    let insured2 = t2.insured().await;
    let quote2 = t2.quote(id(&insured2)).await;
    bind(&t2, id(&quote2), Some("key-1"), json!({}))
        .await
        .ok(201);

    // An empty or over-long key is refused before anything happens.
    let fresh = t.quote(id(&insured)).await;
    let r = bind(&t, id(&fresh), Some(""), json!({})).await;
    assert!(r.status == 400 || r.status == 422, "{r:?}");
    r.problem(r.status, None);
    let long = "k".repeat(256);
    let r = bind(&t, id(&fresh), Some(&long), json!({})).await;
    assert!(r.status == 400 || r.status == 422, "{r:?}");
    // Issue 23 (6): a key with a byte outside ASCII (UTF-8 `résumé-1`) was read as no key at
    // all: the bind ran without idempotency (201) and its retry got 409. It is refused instead.
    let accented = reqwest::header::HeaderValue::from_bytes("résumé-1".as_bytes()).expect("bytes");
    for _ in 0..2 {
        let req = t
            .request(Method::POST, &format!("/v1/quotes/{}/bind", id(&fresh)))
            .header("Idempotency-Key", accented.clone())
            .json(&json!({}));
        t.send(req).await.problem(400, Some("Idempotency-Key"));
    }
    let read = t.get(&format!("/v1/quotes/{}", id(&fresh))).await;
    assert_eq!(read.ok(200)["status"], "quoted");
}

async fn concurrent_idempotent_binds(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let insured = t.insured().await;
    let quote = t.quote(id(&insured)).await;
    let quote_id = id(&quote);

    let answers =
        join_all((0..8).map(|_| bind(&t, quote_id, Some("race-1"), json!({"notes": "race"}))))
            .await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    for r in &answers {
        assert!(
            r.status == 200 || r.status == 201,
            "statuses {statuses:?}; this one: {r:?}"
        );
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "exactly one bind creates: {statuses:?}"
    );
    let ids: Vec<&str> = answers.iter().map(|r| id(&r.body)).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");

    let all = t.get("/v1/policies?limit=100").await;
    let of_quote: Vec<&Value> = all.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["quote_id"] == quote_id)
        .collect();
    assert_eq!(of_quote.len(), 1, "{of_quote:?}");
    assert_eq!(id(of_quote[0]), ids[0]);
}

async fn idempotency_keys_are_exact_and_owned(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let insured = t.insured().await;
    // Keys differ by case only: two requests, two policies (on MariaDB too, whose collation
    // would compare them equal if they were stored as given).
    let a = t.quote(id(&insured)).await;
    let b = t.quote(id(&insured)).await;
    bind(&t, id(&a), Some("Bind-1"), json!({})).await.ok(201);
    bind(&t, id(&b), Some("bind-1"), json!({})).await.ok(201);

    // One key raced onto two quotes: one binds, the other is told the key is taken (422),
    // never a 409 `duplicate` or a 500.
    for round in 0..5 {
        let (c, d) = (t.quote(id(&insured)).await, t.quote(id(&insured)).await);
        let key = format!("race-{round}");
        let (one, two) = tokio::join!(
            bind(&t, id(&c), Some(&key), json!({})),
            bind(&t, id(&d), Some(&key), json!({}))
        );
        let mut statuses = [one.status, two.status];
        statuses.sort();
        assert_eq!(statuses, [201, 422], "{} / {}", one.body, two.body);
    }
}

/// Payments racing a cancellation: each one either lands before the cancellation ends cover
/// (and then no later than `ended_at`) or is refused; none is recorded after the end.
async fn a_cancellation_ends_cover_after_every_payment_it_let_through(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    for _ in 0..3 {
        let policy = t.active_policy().await;
        let payments = futures::future::join_all((0..12).map(|_| pay(&t, id(&policy))));
        let (paid, cancelled) = tokio::join!(payments, cancel(&t, id(&policy)));
        let ended = cancelled.ok(200)["ended_at"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let ended = chrono::DateTime::parse_from_rfc3339(&ended).unwrap();
        for p in paid {
            if p.status == 201 {
                let at = p.body["received_at"].as_str().unwrap_or_default();
                let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
                assert!(
                    at <= ended,
                    "a payment at {at} after the end of cover at {ended}"
                );
            } else {
                p.conflict("policy_not_payable");
            }
        }
    }
}
