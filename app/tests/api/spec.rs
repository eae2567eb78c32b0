//! The committed `app/openapi.json` is the contract clients are generated from: it must be what
//! the service serves. Regenerate with `cargo run -q --bin policy-service -- openapi > app/openapi.json`.

use serde_json::Value;

use crate::support::{Engine, spawn_app};

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

/// Generated clients name their methods and classes after these: renaming one breaks them.
const OPERATIONS: [(&str, &str); 34] = [
    ("live", "Health"),
    ("ready", "Health"),
    ("createInsured", "Insureds"),
    ("listInsureds", "Insureds"),
    ("getInsured", "Insureds"),
    ("createQuote", "Quotes"),
    ("listQuotes", "Quotes"),
    ("getQuote", "Quotes"),
    ("rateQuote", "Quotes"),
    ("bindQuote", "Policies"),
    ("listPolicies", "Policies"),
    ("listActivePolicies", "Policies"),
    ("searchPolicies", "Policies"),
    ("getPolicy", "Policies"),
    ("updatePolicy", "Policies"),
    ("activatePolicy", "Policies"),
    ("cancelPolicy", "Policies"),
    ("expirePolicy", "Policies"),
    ("createPayment", "Payments"),
    ("listPayments", "Payments"),
    ("getPayment", "Payments"),
    ("createClaim", "Claims"),
    ("listClaims", "Claims"),
    ("getClaim", "Claims"),
    ("changeClaimStatus", "Claims"),
    ("uploadPolicyDocument", "Documents"),
    ("uploadClaimDocument", "Documents"),
    ("listPolicyDocuments", "Documents"),
    ("listClaimDocuments", "Documents"),
    ("getDocument", "Documents"),
    ("downloadDocument", "Documents"),
    ("deleteDocument", "Documents"),
    ("authorizeChannel", "Broadcasting"),
    ("streamEvents", "Broadcasting"),
];

fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            all.push((method.clone(), path.clone(), op.clone()));
        }
    }
    all
}

#[test]
fn operation_ids_and_tags_are_stable() {
    let spec: Value = serde_json::from_str(COMMITTED).unwrap();
    let mut found: Vec<(String, String)> = operations(&spec)
        .into_iter()
        .map(|(_, _, op)| {
            (
                op["operationId"].as_str().unwrap_or_default().to_owned(),
                op["tags"][0].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mut expected: Vec<(String, String)> = OPERATIONS
        .iter()
        .map(|(id, tag)| (id.to_string(), tag.to_string()))
        .collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
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
    for (method, path, op) in operations(&spec) {
        assert!(op["summary"].is_string(), "{method} {path} has no summary");
        let security = op["security"].as_array().unwrap();
        // Laravel's path, which laravel-echo calls: behind Kong like `/v1`.
        if !path.starts_with("/v1/") && path != "/broadcasting/auth" {
            assert!(security.is_empty(), "{method} {path} is open, and says so");
            continue;
        }
        assert_eq!(
            security.len(),
            1,
            "{method} {path}: one requirement with all three headers"
        );
        assert_eq!(security[0].as_object().unwrap().len(), 3, "{method} {path}");
    }
}

/// Each operation lists the errors it can give, and only those, each with an example.
#[test]
fn operations_document_only_the_errors_they_can_give() {
    let spec: Value = serde_json::from_str(COMMITTED).unwrap();
    for (method, path, op) in operations(&spec)
        .into_iter()
        .filter(|o| o.1.starts_with("/v1/"))
    {
        let documents = |status: &str| {
            let problem = &op["responses"][status]["content"]["application/problem+json"];
            assert!(
                problem.is_null() || problem["example"]["status"] == status.parse::<u16>().unwrap(),
                "{method} {path} {status} has no example"
            );
            problem.is_object()
        };
        for status in ["400", "401", "403", "503"] {
            assert!(
                documents(status),
                "{method} {path} does not document {status}"
            );
        }
        let body = op["requestBody"].is_object();
        for status in ["413", "415", "422"] {
            assert_eq!(documents(status), body, "{method} {path} and {status}");
        }
        // Only an operation on a record (`{id}`) can find none; creates name theirs in the body.
        assert_eq!(
            documents("404"),
            path.contains("{id}"),
            "{method} {path} and 404"
        );
        assert!(!documents("500"), "{method} {path} documents a bug");
    }
}

/// Every body schema is closed (the server refuses unknown fields), ids are UUIDs and dates are
/// RFC 3339 full-dates, wherever they are taken.
#[test]
fn inputs_are_closed_and_typed() {
    let spec: Value = serde_json::from_str(COMMITTED).unwrap();
    let schemas = &spec["components"]["schemas"];
    for name in [
        "CreateInsured",
        "CreateQuote",
        "CoverageInput",
        "BindQuote",
        "UpdatePolicy",
        "CancelPolicy",
        "CreatePayment",
        "CreateClaim",
        "ClaimStatusChange",
    ] {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
    }
    let text = COMMITTED.to_string();
    assert!(!text.contains("naive-date"), "a date without format: date");
    for (method, path, op) in operations(&spec) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or_default();
            if name == "id" || name.ends_with("_id") || name == "cursor" {
                assert_eq!(p["schema"]["format"], "uuid", "{method} {path} {name}");
            }
        }
    }
    for (name, schema) in schemas.as_object().unwrap() {
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            // A Pusher socket id is two numbers, not a UUID.
            if field.ends_with("_id")
                && field != "socket_id"
                && schema["additionalProperties"] == false
            {
                assert_eq!(property["format"], "uuid", "{name}.{field}");
            }
            if field.ends_with("_date") || field == "valid_until" {
                assert_eq!(property["format"], "date", "{name}.{field}");
            }
            if field.ends_with("_at") {
                assert_eq!(property["format"], "date-time", "{name}.{field}");
            }
        }
    }
}

/// Object keys are the service's: no operation takes one (a path, a key, a bucket), so no tenant
/// can name another's object. Documents are reached by id only, through the tenant's database.
#[test]
fn no_operation_names_an_object_key() {
    let spec: Value = serde_json::from_str(COMMITTED).unwrap();
    for (method, path, op) in operations(&spec)
        .into_iter()
        .filter(|o| o.1.contains("document"))
    {
        for p in op["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or_default();
            assert!(
                ["id", "cursor", "limit", "redirect"].contains(&name),
                "{method} {path} takes {name}"
            );
        }
        let form = &op["requestBody"]["content"]["multipart/form-data"]["schema"];
        if form.is_object() {
            assert_eq!(
                form["additionalProperties"], false,
                "{method} {path}: a closed form"
            );
            let fields: Vec<&String> = form["properties"].as_object().unwrap().keys().collect();
            assert_eq!(fields, ["file", "type", "visibility"], "{method} {path}");
        }
    }
}
