//! Tenants never see each other's records, and the active-policies query costs the same number of
//! SQL statements whatever its page size.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use crate::{
    both_engines,
    support::{Engine, Resp, TenantClient, spawn_app, spawn_with, today},
};

both_engines!(
    tenants_never_see_each_other,
    active_policies_run_constant_statements,
    active_policies_paginate
);

/// A 404 problem that carries nothing of the record asked for.
#[track_caller]
fn not_found(r: &Resp) {
    r.problem(404, None);
    assert!(
        r.body.get("id").is_none() && r.body.get("number").is_none(),
        "leaked: {}",
        r.body
    );
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}"))
}

fn items(r: &Resp) -> &Vec<Value> {
    r.ok(200)["items"].as_array().expect("items")
}

async fn pay(t: &TenantClient, policy_id: &str) -> String {
    t.post(
        "/v1/payments",
        json!({"policy_id": policy_id, "amount_minor": 75_000, "currency": "EUR", "method": "card"}),
    )
    .await
    .id()
}

async fn claim(t: &TenantClient, policy_id: &str) -> Resp {
    let body = json!({"policy_id": policy_id, "incident_date": today().to_string(),
        "description": "Hail damage", "amount_claimed_minor": 10_000});
    t.post("/v1/claims", body).await
}

/// Quote → bind → activate for an existing insured; returns the policy's id.
async fn activate_new(t: &TenantClient, insured_id: &str) -> String {
    let quote = t.quote(insured_id).await;
    let policy = t
        .post(&format!("/v1/quotes/{}/bind", id(&quote)), json!({}))
        .await;
    let policy_id = policy.id();
    t.action(&format!("/v1/policies/{policy_id}/activate"))
        .await
        .ok(200);
    policy_id
}

async fn tenants_never_see_each_other(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = app.tenant().await;
    let b = app.tenant().await;

    let insured = a.insured().await;
    let insured_id = id(&insured);
    let quote = a.quote(insured_id).await;
    let quote_id = id(&quote);
    let bound = a
        .post(
            &format!("/v1/quotes/{quote_id}/bind"),
            json!({"notes": "A's"}),
        )
        .await
        .ok(201)
        .clone();
    let bound_id = id(&bound);
    let active = a.active_policy().await;
    let active_id = id(&active);
    let payment_id = pay(&a, active_id).await;
    let claim_id = claim(&a, active_id).await.id();

    // Reads by id.
    for path in [
        format!("/v1/insureds/{insured_id}"),
        format!("/v1/quotes/{quote_id}"),
        format!("/v1/policies/{bound_id}"),
        format!("/v1/policies/{active_id}"),
        format!("/v1/payments/{payment_id}"),
        format!("/v1/claims/{claim_id}"),
    ] {
        not_found(&b.get(&path).await);
    }
    // Writes by id.
    for policy_id in [bound_id, active_id] {
        not_found(
            &b.patch(
                &format!("/v1/policies/{policy_id}"),
                json!({"notes": "hijacked"}),
            )
            .await,
        );
        not_found(
            &b.action(&format!("/v1/policies/{policy_id}/activate"))
                .await,
        );
        not_found(&b.action(&format!("/v1/policies/{policy_id}/expire")).await);
        not_found(
            &b.post(
                &format!("/v1/policies/{policy_id}/cancel"),
                json!({"reason": "hijacked"}),
            )
            .await,
        );
    }
    not_found(
        &b.post(&format!("/v1/quotes/{quote_id}/bind"), json!({}))
            .await,
    );
    not_found(
        &b.post(
            &format!("/v1/claims/{claim_id}/status"),
            json!({"status": "in_review"}),
        )
        .await,
    );
    // A's ids as references are no such record in B.
    b.post(
        "/v1/payments",
        json!({"policy_id": active_id, "amount_minor": 1, "currency": "EUR", "method": "card"}),
    )
    .await
    .problem(422, Some("policy_id"));
    claim(&b, active_id).await.problem(422, Some("policy_id"));
    b.post("/v1/quotes", crate::support::quote_body(insured_id))
        .await
        .problem(422, Some("insured_id"));

    // B's lists are empty, filtered by A's ids or not.
    let email = insured["email"].as_str().unwrap();
    for path in [
        "/v1/insureds".to_owned(),
        format!("/v1/insureds?email={email}"),
        "/v1/quotes".to_owned(),
        format!("/v1/quotes?insured_id={insured_id}"),
        "/v1/policies".to_owned(),
        format!("/v1/policies?insured_id={insured_id}"),
        "/v1/policies?status=active".to_owned(),
        "/v1/policies/active".to_owned(),
        "/v1/payments".to_owned(),
        format!("/v1/payments?policy_id={active_id}"),
        "/v1/claims".to_owned(),
        format!("/v1/claims?policy_id={active_id}"),
    ] {
        assert!(
            items(&b.get(&path).await).is_empty(),
            "B sees A's records at {path}"
        );
    }

    // A's records are as they were.
    assert_eq!(
        a.get(&format!("/v1/quotes/{quote_id}")).await.ok(200)["status"],
        "bound"
    );
    assert_eq!(
        a.get(&format!("/v1/policies/{bound_id}")).await.ok(200),
        &bound
    );
    assert_eq!(
        a.get(&format!("/v1/policies/{active_id}")).await.ok(200),
        &active
    );
    assert_eq!(
        a.get(&format!("/v1/claims/{claim_id}")).await.ok(200)["status"],
        "open"
    );
    assert_eq!(
        a.get(&format!("/v1/payments/{payment_id}")).await.ok(200)["policy_id"],
        active_id
    );
    assert_eq!(items(&a.get("/v1/policies").await).len(), 2);

    // The tenant is chosen by X-Consumer-Custom-ID alone (Kong's consumer convention): B's
    // consumer naming A's slug acts as A.
    let as_a = app
        .http
        .get(format!("{}/v1/insureds/{insured_id}", app.address))
        .header("X-Consumer-ID", format!("consumer-{}", b.slug))
        .header("X-Authenticated-Userid", "user-1")
        .header("X-Consumer-Custom-ID", &a.slug);
    assert_eq!(b.send(as_a).await.ok(200)["id"], insured_id);
}

async fn active_policies_run_constant_statements(engine: Engine) {
    // No timed outbox sweep (every 30 s by default) during the test: on a busy machine the setup
    // takes long enough for one to land between two counts and add its relay's statements.
    let app = spawn_with(engine, &["--outbox-sweep-secs", "3600"]).await;
    let t = app.tenant().await;
    let insured = t.insured().await;
    let insured_id = id(&insured);

    // policy id → (last payment id, claims count)
    let mut expected: HashMap<String, (String, i64)> = HashMap::new();
    let first = activate_new(&t, insured_id).await;
    pay(&t, &first).await;
    let last = pay(&t, &first).await;
    claim(&t, &first).await.ok(201);
    expected.insert(first, (last, 1));

    let active = "/v1/policies/active?limit=100";
    let before = app.statements(&t.slug).await;
    assert_eq!(items(&t.get(active).await).len(), 1);
    let d1 = app.statements(&t.slug).await - before;

    for i in 0..49 {
        let policy_id = activate_new(&t, insured_id).await;
        let payment_id = pay(&t, &policy_id).await;
        let claims = i % 3;
        for _ in 0..claims {
            claim(&t, &policy_id).await.ok(201);
        }
        expected.insert(policy_id, (payment_id, claims));
    }

    let before = app.statements(&t.slug).await;
    let listed = t.get(active).await;
    let d50 = app.statements(&t.slug).await - before;
    eprintln!("active policies: {d1} statements for 1, {d50} for 50");
    assert_eq!(d1, d50, "statements grow with the page size");
    assert_eq!(d50, 4);

    let listed = items(&listed);
    assert_eq!(listed.len(), 50);
    for item in listed {
        let policy_id = id(&item["policy"]);
        let (payment_id, claims) = &expected[policy_id];
        assert_eq!(item["policy"]["status"], "active");
        assert_eq!(item["insured"]["id"], insured_id);
        assert_eq!(item["insured"]["email"], insured["email"]);
        assert_eq!(item["coverages"].as_array().unwrap().len(), 2, "{item}");
        assert_eq!(item["last_payment"]["id"], payment_id.as_str(), "{item}");
        assert_eq!(item["claims_count"], *claims, "{item}");
    }
}

async fn active_policies_paginate(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let insured = t.insured().await;
    let mut created = BTreeSet::new();
    for _ in 0..50 {
        created.insert(activate_new(&t, id(&insured)).await);
    }

    let mut seen: Vec<String> = vec![];
    let mut sizes = vec![];
    let mut path = "/v1/policies/active?limit=20".to_owned();
    loop {
        let page = t.get(&path).await;
        let page = page.ok(200);
        let ids: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| id(&i["policy"]).to_owned())
            .collect();
        sizes.push(ids.len());
        seen.extend(ids);
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/policies/active?limit=20&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(sizes, [20, 20, 10]);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "not newest first, or repeated: {seen:?}"
    );
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), created);
}
