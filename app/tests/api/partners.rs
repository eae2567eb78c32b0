//! Partner routes through Camel, against an in-test partner that fails, hangs, refuses or
//! recovers on command (its trace headers: telemetry's spans.rs): the request's shape, the breaker's closed → open →
//! fail fast → half-open → closed, a hanging partner costing at most the timeout, and a bound
//! policy announced by a job that outlasts a partner outage.

use std::time::Instant;

use crate::{
    support::partner::{Mode, Partner},
    support::{Engine, PATIENCE, eventually, spawn_app, spawn_with},
};

#[tokio::test]
async fn rating_fails_fast_while_the_partner_is_down_and_recovers_by_a_probe() {
    let partner = Partner::start().await;
    // The partner runs on the test's own thread, beside the app: on a busy machine an answer
    // may take a while, so the timeout is generous (only the hanging partner below meets it).
    // The breaker stays open long enough that the call checked to fail fast comes well before
    // the probe is due.
    let flags = [
        "--camel-url",
        &partner.url,
        "--partner-timeout-ms",
        "5000",
        "--partner-breaker-open-secs",
        "15",
    ];
    let app = spawn_with(Engine::Sqlite, &flags).await;
    let t = app.tenant().await;
    let insured = t.insured().await;
    let quote = t.quote(insured["id"].as_str().unwrap_or_default()).await;
    let quote_id = quote["id"].as_str().unwrap_or_default().to_owned();
    let rate = format!("/v1/quotes/{quote_id}/rate");

    let rated = t.action(&rate).await;
    assert_eq!(rated.ok(200)["premium_minor"], 43210);
    let (route, body, _) = partner.received().remove(0);
    assert_eq!(route, "rating");
    assert_eq!(body["format"], "json");
    assert_eq!(body["data"]["id"], quote_id.as_str());
    let tenant = app
        .state
        .tenancy
        .resolve(&t.slug)
        .await
        .ok()
        .flatten()
        .expect("tenant");
    assert_eq!(body["tenant_id"], tenant.id.as_str());

    // Five failures in a row open it; then no call reaches the partner.
    partner.set(Mode::Fail);
    for _ in 0..5 {
        t.action(&rate).await.problem(503, None);
    }
    let calls = partner.calls();
    let fast = t
        .request(reqwest::Method::POST, &rate)
        .send()
        .await
        .expect("rate");
    assert_eq!(fast.status(), 503);
    assert!(
        fast.headers().contains_key("retry-after"),
        "says when to come back"
    );
    assert_eq!(
        partner.calls(),
        calls,
        "an open breaker does not call the partner"
    );

    // After its open time one probe goes; it succeeds and closes the breaker. Until then each
    // call fails fast.
    partner.set(Mode::Answer);
    eventually("the probe closing the breaker", || async {
        let rated = t.action(&rate).await;
        if rated.status != 200 {
            rated.problem(503, None);
        }
        rated.status == 200
    })
    .await;
    t.action(&rate).await.ok(200);

    // A partner that hangs costs a request the timeout, not the hang: a 503, not an answer an
    // hour later (the figure is printed, not bounded: a busy machine stretches it).
    partner.set(Mode::Hang);
    let started = Instant::now();
    tokio::time::timeout(PATIENCE, t.action(&rate))
        .await
        .expect("a hanging partner holds the request past its timeout")
        .problem(503, None);
    eprintln!(
        "a hanging partner cost the request {:?} (timeout 5 s)",
        started.elapsed()
    );

    // A refusal (4xx) is the partner answering: ours to fix, and no reason to open.
    partner.set(Mode::Refuse);
    for _ in 0..6 {
        assert_eq!(t.action(&rate).await.status, 500);
    }
    let calls = partner.calls();
    t.action(&rate).await;
    assert_eq!(
        partner.calls(),
        calls + 1,
        "refusals do not open the breaker"
    );

    let unknown = format!("/v1/quotes/{}/rate", uuid::Uuid::now_v7());
    t.action(&unknown).await.problem(404, None);
}

#[tokio::test]
async fn a_bound_policy_reaches_the_partner_after_its_outage_and_the_bind_never_waits() {
    let partner = Partner::start().await;
    partner.set(Mode::Fail);
    let flags = [
        "--camel-url",
        &partner.url,
        "--queue-backoff-ms",
        "50",
        "--partner-breaker-open-secs",
        "1",
    ];
    let app = spawn_with(Engine::Sqlite, &flags).await;
    let t = app.tenant().await;
    let policy = t.bound_policy().await;
    let id = policy["id"].as_str().unwrap_or_default().to_owned();
    eventually("the notice tried twice", || async { partner.calls() >= 2 }).await;
    partner.set(Mode::Answer);
    eventually("the bound policy announced", || async {
        let received = partner.received();
        let ours = received.last().is_some_and(|(route, body, _)| {
            route == "policy-bound" && body["data"]["id"] == id.as_str()
        });
        ours && partner.calls() > 2
    })
    .await;
    let body = &partner.received().last().cloned().expect("a notice").1;
    assert_eq!(body["data"]["policy_number"], policy["number"]);
}

#[tokio::test]
async fn without_camel_nothing_is_called_and_rating_says_why() {
    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    let insured = t.insured().await;
    let quote = t.quote(insured["id"].as_str().unwrap_or_default()).await;
    let rated = t
        .action(&format!(
            "/v1/quotes/{}/rate",
            quote["id"].as_str().unwrap_or_default()
        ))
        .await;
    let detail = rated.problem(503, None)["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.contains("CAMEL_URL"), "{detail}");
    t.bound_policy().await;
}
