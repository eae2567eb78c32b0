//! The committed `app/openapi.json` is the contract clients are generated from: it must be what
//! the service serves. Regenerate with `cargo run -q --bin policy-service -- openapi > app/openapi.json`.

use serde_json::Value;

use crate::helpers::{Engine, spawn_app};

const COMMITTED: &str = include_str!("../../openapi.json");

#[tokio::test]
async fn served_spec_equals_the_committed_file() {
    let app = spawn_app(Engine::Sqlite).await;
    let resp = app
        .http
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let served = resp.text().await.unwrap();
    assert!(
        served == COMMITTED,
        "app/openapi.json is stale: run `cargo run -q --bin policy-service -- openapi > app/openapi.json`"
    );
    let docs = app
        .http
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("SwaggerUIBundle"));
}

#[test]
fn kong_headers_are_required_together_on_every_v1_operation() {
    let spec: Value = serde_json::from_str(COMMITTED).unwrap();
    let schemes = spec["components"]["securitySchemes"].as_object().unwrap();
    for name in [
        "KongConsumerId",
        "KongAuthenticatedUserid",
        "KongConsumerCustomId",
    ] {
        assert_eq!(schemes[name]["type"], "apiKey");
        assert_eq!(schemes[name]["in"], "header");
    }
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["operationId"].is_string(),
                "{method} {path} has no operationId"
            );
            assert!(op["summary"].is_string(), "{method} {path} has no summary");
            if path.starts_with("/v1/") {
                let security = op["security"].as_array().unwrap();
                assert_eq!(
                    security.len(),
                    1,
                    "{method} {path}: one requirement with all three headers"
                );
                assert_eq!(security[0].as_object().unwrap().len(), 3, "{method} {path}");
                for status in ["401", "403", "422"] {
                    let ct = &op["responses"][status]["content"]["application/problem+json"];
                    assert!(ct.is_object(), "{method} {path} does not document {status}");
                }
            }
        }
    }
}
