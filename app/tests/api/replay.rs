//! R7: tenant B's consumer replays every id of tenant A's on every operation that takes one
//! (reads, writes, lists filtered by it, documents, private channels), round after round, with
//! A's records warm in the cache: at least 10,000 attempts, and no answer may carry one of A's
//! ids, nor be a success (but a list filtered by A's id, which must be empty).

use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    documents::{PDF, form, policy_and_claim, upload},
    support::{Engine, spawn_app, today},
};

/// One attempt: the method, the path, and a JSON body (or none).
type Attempt = (Method, String, Option<Value>);

fn attempts(ids: &Ids) -> Vec<Attempt> {
    let Ids {
        insured,
        quote,
        policy,
        payment,
        claim,
        document,
    } = ids;
    let get = |p: String| (Method::GET, p, None);
    let post = |p: String, b: Value| (Method::POST, p, Some(b));
    vec![
        get(format!("/v1/insureds/{insured}")),
        get(format!("/v1/quotes/{quote}")),
        get(format!("/v1/policies/{policy}")),
        get(format!("/v1/payments/{payment}")),
        get(format!("/v1/claims/{claim}")),
        get(format!("/v1/documents/{document}")),
        get(format!("/v1/documents/{document}/content")),
        get(format!("/v1/documents/{document}/content?redirect=true")),
        get(format!("/v1/policies/{policy}/documents")),
        get(format!("/v1/claims/{claim}/documents")),
        get(format!("/v1/quotes?insured_id={insured}")),
        get(format!("/v1/policies?insured_id={insured}")),
        get(format!("/v1/payments?policy_id={policy}")),
        get(format!("/v1/claims?policy_id={policy}")),
        (
            Method::PATCH,
            format!("/v1/policies/{policy}"),
            Some(json!({"notes": "B's"})),
        ),
        post(
            format!("/v1/policies/{policy}/cancel"),
            json!({"reason": "B"}),
        ),
        post(format!("/v1/policies/{policy}/expire"), json!({})),
        post(format!("/v1/quotes/{quote}/bind"), json!({})),
        post(format!("/v1/quotes/{quote}/rate"), json!({})),
        post(
            format!("/v1/claims/{claim}/status"),
            json!({"status": "in_review"}),
        ),
        post(
            "/v1/quotes".into(),
            json!({
                "insured_id": insured, "product": "auto", "currency": "EUR",
                "effective_date": today().to_string(),
                "expiry_date": (today() + chrono::Days::new(300)).to_string(),
                "coverages": [{"code": "liability", "limit_minor": 1000, "deductible_minor": 10, "premium_minor": 100}]
            }),
        ),
        post(
            "/v1/payments".into(),
            json!({"policy_id": policy, "amount_minor": 100, "currency": "EUR", "method": "card"}),
        ),
        post(
            "/v1/claims".into(),
            json!({
                "policy_id": policy, "incident_date": today().to_string(),
                "description": "B", "amount_claimed_minor": 10
            }),
        ),
        (Method::DELETE, format!("/v1/documents/{document}"), None),
    ]
}

struct Ids {
    insured: String,
    quote: String,
    policy: String,
    payment: String,
    claim: String,
    document: String,
}

fn leaked(body: &Value, ids: &[&str]) -> bool {
    let text = body.to_string();
    ids.iter().any(|id| text.contains(id))
}

async fn replay_every_id(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b) = (app.tenant().await, app.tenant().await);
    let (policy, claim) = policy_and_claim(&a).await;
    let policy_record = a
        .get(&format!("/v1/policies/{policy}"))
        .await
        .ok(200)
        .clone();
    let payment = a
        .post(
            "/v1/payments",
            json!({"policy_id": policy, "amount_minor": 100, "currency": "EUR", "method": "card"}),
        )
        .await
        .id();
    let docs = format!("/v1/policies/{policy}/documents");
    let document = upload(&a, &docs, form(PDF, "application/pdf", "other", None))
        .await
        .id();
    let ids = Ids {
        insured: policy_record["insured_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        quote: policy_record["quote_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        policy,
        payment,
        claim,
        document,
    };
    let all = attempts(&ids);
    // A reads its records first: the cache holds them under A's keys while B asks.
    let reads = all
        .iter()
        .filter(|(m, p, _)| *m == Method::GET && !p.contains("redirect"));
    for (method, path, _) in reads {
        a.send(a.request(method.clone(), path)).await;
    }
    let secret = [
        ids.insured.as_str(),
        &ids.quote,
        &ids.policy,
        &ids.payment,
        &ids.claim,
        &ids.document,
    ];
    let (mut tried, mut leaks) = (0u32, Vec::new());
    while tried < 10_000 {
        for (method, path, body) in &all {
            let mut req = b.request(method.clone(), path);
            if let Some(body) = body {
                req = req.json(body);
            }
            let r = b.send(req).await;
            tried += 1;
            let list = path.contains('?');
            let empty = r.body["items"].as_array().is_some_and(Vec::is_empty);
            let success = (200..300).contains(&r.status) && !(list && empty);
            if success || leaked(&r.body, &secret) {
                leaks.push(format!("{method} {path}: {} {}", r.status, r.body));
            }
        }
    }
    // A's private channel, through the auth endpoint (as laravel-echo asks).
    let channel = format!("private-tenant.{}", a.slug);
    let auth = b
        .send(
            b.request(Method::POST, "/broadcasting/auth")
                .form(&[("socket_id", "1.2"), ("channel_name", channel.as_str())]),
        )
        .await;
    assert_eq!(
        auth.status, 403,
        "B authorised on A's channel: {}",
        auth.body
    );
    println!(
        "R7 ({engine:?}): {tried} attempts with A's ids by B, {} leaks",
        leaks.len()
    );
    assert!(leaks.is_empty(), "leaks: {leaks:#?}");
    // And A still has everything.
    a.get(&format!("/v1/documents/{}", ids.document))
        .await
        .ok(200);
    a.get(&format!("/v1/policies/{}", ids.policy)).await.ok(200);
}

crate::both_engines!(replay_every_id);
