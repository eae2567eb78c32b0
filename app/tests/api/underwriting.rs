//! The underwriting rules, each as the issue that asked for them reproduced it: cover bought
//! after the loss, terms to 9999, claims beyond any limit, expiring and extending at will.

use serde_json::{Value, json};

use crate::{
    both_engines,
    support::{Engine, TenantClient, eventually, quote_body, spawn_app, spawn_with, today},
};

both_engines!(
    quotes_start_today_and_run_three_years_at_most,
    cover_cannot_be_bought_once_it_began,
    claims_fall_inside_the_cover_and_the_limit,
    policies_expire_when_due_and_terms_never_extend
);

fn day(offset: i64) -> String {
    (today() + chrono::TimeDelta::days(offset)).to_string()
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap_or_default()
}

async fn quote_with(t: &TenantClient, change: impl FnOnce(&mut Value)) -> crate::support::Resp {
    let insured = t.insured().await;
    let mut body = quote_body(id(&insured));
    change(&mut body);
    t.post("/v1/quotes", body).await
}

async fn quotes_start_today_and_run_three_years_at_most(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let refused = [
        ("2020-01-01", "2020-12-31", None, "effective_date"),
        ("0001-01-01", "9999-12-31", None, "effective_date"),
        (&*day(1), "9999-12-31", None, "expiry_date"),
        (&*day(1), &*day(1 + 1097), None, "expiry_date"),
        (&*day(10), &*day(100), Some(day(11)), "valid_until"),
    ];
    for (effective, expiry, valid_until, field) in refused {
        let r = quote_with(&t, |b| {
            b["effective_date"] = json!(effective);
            b["expiry_date"] = json!(expiry);
            if let Some(v) = valid_until {
                b["valid_until"] = json!(v);
            }
        })
        .await;
        r.problem(422, Some(field));
    }
    // Three years to the day, and an offer open until cover starts.
    let r = quote_with(&t, |b| {
        b["effective_date"] = json!(day(10));
        b["expiry_date"] = json!(day(10 + 1096));
    })
    .await;
    assert_eq!(
        r.ok(201)["valid_until"],
        day(10).as_str(),
        "defaults to the start"
    );

    // Backdating is an operator's choice.
    let app = spawn_with(engine, &["--underwriting-backdate-days", "7"]).await;
    let t = app.tenant().await;
    let r = quote_with(&t, |b| b["effective_date"] = json!(day(-7))).await;
    assert_eq!(r.ok(201)["valid_until"], today().to_string().as_str());
    quote_with(&t, |b| b["effective_date"] = json!(day(-8)))
        .await
        .problem(422, Some("effective_date"));
}

async fn cover_cannot_be_bought_once_it_began(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let quote = quote_with(&t, |b| {
        b["effective_date"] = json!(day(5));
        b["expiry_date"] = json!(day(300));
    })
    .await
    .ok(201)
    .clone();
    // Time passes: the quote is still offered (valid_until), but its cover already began.
    sqlx::query("UPDATE quotes SET effective_date = ?, valid_until = ? WHERE id = ?")
        .bind(day(-1))
        .bind(day(3))
        .bind(id(&quote))
        .execute(t.db.pool())
        .await
        .unwrap();
    t.post(&format!("/v1/quotes/{}/bind", id(&quote)), json!({}))
        .await
        .conflict("cover_started");
}

async fn claims_fall_inside_the_cover_and_the_limit(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let claim = |policy: &str, incident: String, amount: i64| json!({"policy_id": policy, "incident_date": incident, "description": "Loss", "amount_claimed_minor": amount});
    let active = t.active_policy().await;
    // The claim: a loss before the cover, for more than any limit.
    t.post("/v1/claims", claim(id(&active), "2020-06-01".into(), 500))
        .await
        .problem(422, Some("incident_date"));
    t.post("/v1/claims", claim(id(&active), day(1), 500))
        .await
        .problem(422, Some("incident_date"));
    // quote_body's limits add up to 102,000,000.
    t.post("/v1/claims", claim(id(&active), day(0), 102_000_001))
        .await
        .problem(422, Some("amount_claimed_minor"));
    t.post("/v1/claims", claim(id(&active), day(0), 102_000_000))
        .await
        .ok(201);

    // Cancelled after a loss: the loss is still covered, a later one is not.
    let policy = t.active_policy().await;
    t.age_policy(id(&policy), 30).await;
    sqlx::query("UPDATE policies SET expiry_date = ? WHERE id = ?")
        .bind(day(300))
        .bind(id(&policy))
        .execute(t.db.pool())
        .await
        .unwrap();
    let cancel = format!("/v1/policies/{}/cancel", id(&policy));
    t.post(&cancel, json!({"reason": "sold"})).await.ok(200);
    t.post("/v1/claims", claim(id(&policy), day(-10), 500))
        .await
        .ok(201);
    // A bound policy never activated covered nothing, cancelled or not.
    let bound = t.bound_policy().await;
    t.post("/v1/claims", claim(id(&bound), day(0), 500))
        .await
        .conflict("policy_not_active");
}

async fn policies_expire_when_due_and_terms_never_extend(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let active = t.active_policy().await;
    let path = format!("/v1/policies/{}", id(&active));
    t.action(&format!("{path}/expire"))
        .await
        .conflict("policy_not_due");
    // The PATCHes: to 9999 for the same premium, or into the past while active.
    t.patch(&path, json!({"expiry_date": "9999-12-31"}))
        .await
        .conflict("extension_needs_rerating");
    t.patch(&path, json!({"expiry_date": day(-1)}))
        .await
        .problem(422, Some("expiry_date"));
    let shorter = t.patch(&path, json!({"expiry_date": day(100)})).await;
    assert_eq!(shorter.ok(200)["expiry_date"], day(100).as_str());

    // The sweep expires what is due (a job each), and nothing else.
    let due = t.active_policy().await;
    t.age_policy(id(&due), 30).await;
    let queued = policy_service::schedule::sweep(&app.state).await;
    assert_eq!(queued, 1);
    app.settle().await;
    // An expiry job that failed on a busy database is retried after a backoff, which `settle`
    // does not wait for.
    let due_path = format!("/v1/policies/{}", id(&due));
    eventually("the due policy expired", || async {
        t.get(&due_path).await.ok(200)["status"] == "expired"
    })
    .await;
    assert_eq!(t.get(&path).await.ok(200)["status"], "active");
}
