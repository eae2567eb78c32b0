//! The outbox: every committed change writes its event in its own transaction, a refused one
//! writes none, and the relay publishes each in order, again with the same id after a crash,
//! and from one relay per tenant at a time.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use policy_service::{
    platform::error::Result,
    platform::outbox::{Event, publisher::EventPublisher, relay::relay_once},
};
use serde_json::json;

use crate::{
    both_engines,
    support::{Engine, TenantClient, eventually, spawn_app, today},
};

both_engines!(changes_write_their_events_and_refusals_none);

/// The outbox as the relay left it: (event type, aggregate id, sent).
async fn outbox(t: &TenantClient) -> Vec<(String, String, bool)> {
    sqlx::query_as::<_, (String, String, Option<i64>)>(
        "SELECT event_type, aggregate_id, sent_at FROM outbox ORDER BY id",
    )
    .fetch_all(t.db.pool())
    .await
    .expect("outbox")
    .into_iter()
    .map(|(kind, id, sent)| (kind, id, sent.is_some()))
    .collect()
}

async fn changes_write_their_events_and_refusals_none(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = app.tenant().await;
    let policy = t.active_policy().await;
    let id = policy["id"].as_str().unwrap().to_owned();
    let paid = t
        .post(
            "/v1/payments",
            json!({"policy_id": id, "amount_minor": 100, "currency": "EUR", "method": "card"}),
        )
        .await;
    let payment_id = paid.id();
    let claim = t
        .post(
            "/v1/claims",
            json!({"policy_id": id, "incident_date": today().to_string(), "description": "Hail", "amount_claimed_minor": 50}),
        )
        .await;
    let claim_id = claim.id();
    let path = format!("/v1/claims/{claim_id}/status");
    t.post(&path, json!({"status": "in_review"})).await.ok(200);
    t.post(
        &format!("/v1/policies/{id}/cancel"),
        json!({"reason": "sold the car"}),
    )
    .await
    .ok(200);
    // Refused: a cancelled policy takes no payment, and the rolled-back change leaves no event.
    t.post(
        "/v1/payments",
        json!({"policy_id": id, "amount_minor": 100, "currency": "EUR", "method": "card"}),
    )
    .await
    .conflict("policy_not_payable");

    app.settle().await;
    // A relay that failed on a busy database is retried after a backoff, which `settle` does
    // not wait for.
    eventually("every event relayed", || async {
        outbox(&t).await.iter().all(|(_, _, sent)| *sent)
    })
    .await;
    let events = outbox(&t).await;
    let expected = [
        ("PolicyBound", &id),
        ("PolicyActivated", &id),
        ("PaymentReceived", &payment_id),
        ("ClaimOpened", &claim_id),
        ("ClaimStatusChanged", &claim_id),
        ("PolicyCancelled", &id),
    ];
    let got: Vec<(&str, &String)> = events.iter().map(|(k, a, _)| (k.as_str(), a)).collect();
    assert_eq!(got, expected, "the events, in commit order");
}

/// Records what it is given.
#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl EventPublisher for Recorder {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        _tenant: &'a str,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            assert!(topic.starts_with("insurance."), "{topic}");
            self.0.lock().unwrap().push(event.id.clone());
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_crash_before_the_mark_republishes_with_the_same_ids_and_one_relay_holds_a_tenant() {
    let mut app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    t.active_policy().await;
    t.active_policy().await;
    app.settle().await;
    app.stop();
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM outbox ORDER BY id")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert_eq!(ids.len(), 4);

    // As if the relay died after publishing and before stamping: every row unsent again, and
    // its lease run out.
    let crash = "UPDATE outbox SET sent_at = NULL";
    let expire = "UPDATE outbox_relay SET holder = NULL, until_ms = 0";
    t.execute(crash).await;
    t.execute(expire).await;
    let first = Recorder::default();
    let n = relay_once(&t.db, &t.slug, "one", "insurance.", &first)
        .await
        .unwrap();
    assert_eq!(n, 4);
    assert_eq!(
        *first.0.lock().unwrap(),
        ids,
        "republished in order, with the same ids"
    );

    // Two relays at once: one holds the tenant, each event goes out once.
    t.execute(crash).await;
    t.execute(expire).await;
    let both = Recorder::default();
    let (a, b) = tokio::join!(
        relay_once(&t.db, &t.slug, "one", "insurance.", &both),
        relay_once(&t.db, &t.slug, "two", "insurance.", &both),
    );
    assert_eq!(a.unwrap() + b.unwrap(), 4);
    assert_eq!(*both.0.lock().unwrap(), ids);
}

/// An event no relay job announced (its replica died right after the commit) goes out with the
/// next sweep, and sent events are pruned after the retention (0 hours here).
#[tokio::test]
async fn the_sweep_relays_what_no_job_announced_and_prunes_what_was_sent() {
    let flags = ["--outbox-sweep-secs", "1", "--outbox-retention-hours", "0"];
    let app = crate::support::spawn_with(Engine::Sqlite, &flags).await;
    let t = app.tenant().await;
    t.execute(
        "INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, created_at) \
         VALUES ('01a00000-0000-7000-8000-000000000001', 'policy', 'p-1', 'PolicyBound', '{}', 0)",
    )
    .await;
    eventually("relayed by the sweep, then pruned", || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox")
            .fetch_one(t.db.pool())
            .await
            .expect("outbox count")
            == 0
    })
    .await;
}
