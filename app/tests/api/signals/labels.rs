//! Label values a client cannot choose.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;

use crate::{
    signals::install,
    signals::scrape,
    support::receivers,
    support::receivers::Received,
    support::{Engine, spawn_app, today},
};

/// The series a scrape shows: its sample lines without their values (and exemplars).
fn series(text: &str) -> BTreeSet<&str> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(" # ").next()?.rsplit_once(' ').map(|(s, _)| s))
        .collect()
}

/// A client cannot grow `/metrics` at will: made-up methods fold into `_OTHER`, unknown paths
/// into `unmatched`, and a currency outside ISO 4217 never reaches a label (it is refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_methods_paths_and_currencies_add_no_series() {
    let received = Received::default();
    let receiver = receivers::start(received.clone()).await;
    let _telemetry = install(&receiver);
    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    t.active_policy().await;
    // The setup's background work (its events relayed, its policy indexed) makes its series now,
    // not during the flood.
    app.settle().await;
    for path in ["/health/live", "/metrics", "/docs", "/openapi.json"] {
        app.http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
    }
    // Round 0 makes the series the flood may use (`_OTHER`, `unmatched`, a 422 on quotes); the
    // rounds after it may only count in them.
    let mut before = String::new();
    for i in 0..300 {
        if i == 1 {
            before = scrape(&app).await;
        }
        let method = Method::from_bytes(format!("JUNK{i}").as_bytes()).unwrap();
        app.http
            .request(method, format!("{}/health/live", app.address))
            .send()
            .await
            .unwrap();
        app.http
            .get(format!("{}/nowhere/{i}", app.address))
            .send()
            .await
            .unwrap();
        let letter = |n: usize| (b'A' + (n % 26) as u8) as char;
        let currency = format!("Z{}{}", letter(i), letter(i / 26));
        if currency
            .parse::<policy_service::domain::values::Currency>()
            .is_ok()
        {
            continue; // ZAR, ZMW, ZWG: real currencies
        }
        let quote = json!({
            "insured_id": uuid::Uuid::now_v7().to_string(), "product": "auto", "currency": currency,
            "effective_date": today(), "expiry_date": "2099-01-01",
            "coverages": [{"code": "x1", "limit_minor": 10, "deductible_minor": 0, "premium_minor": 1}],
        });
        t.post("/v1/quotes", quote)
            .await
            .problem(422, Some("currency"));
    }
    let after = scrape(&app).await;
    for route in ["/metrics", "/docs", "/openapi.json", "/health/live"] {
        assert!(
            after.contains(&format!("route=\"{route}\"")),
            "{route} has a label"
        );
    }
    assert!(
        after.contains("method=\"_OTHER\""),
        "junk methods fold into _OTHER"
    );
    for junk in ["JUNK", "/nowhere", "currency=\"Z"] {
        assert!(!after.contains(junk), "{junk} reached a label");
    }
    // A fixed ceiling, whatever was sent: only the counts of existing series moved. Series are
    // compared, not bytes (counts and sums grow by digits). A few may be new from background
    // work a busy machine ran late (a histogram is a dozen lines), not one per junk request.
    let (old, new) = (series(&before), series(&after));
    let added: Vec<&&str> = new.difference(&old).collect();
    assert!(added.len() < 64, "{} new series: {added:?}", added.len());
    assert!(after.len() < 64 * 1024, "/metrics is {} bytes", after.len());
}
