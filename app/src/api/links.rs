//! OpenAPI links: what a successful answer leads to. A created insured's `id` is the path id of
//! `getInsured` and the `insured_id` of a new quote; a bound policy's is what payments and claims
//! are made on. Generated clients show them as documentation, and a stateful fuzzer (schemathesis)
//! follows them to reach real records instead of 404s. A unit test checks that every link names
//! an operation, a response and a parameter or body field the document has.

use serde_json::{Map, Value, json};

/// Where the answer's `id` goes in the target operation.
enum Target {
    /// The path parameter `id`.
    PathId,
    /// A query parameter.
    Query(&'static str),
}

use Target::{PathId, Query};

/// The operations an answer's `id` leads to, and where it goes in each.
type Targets = &'static [(&'static str, Target)];

/// From an operation's success status to the operations its answer's `id` leads to. Each link
/// is named after its target (`getInsured` → `GetInsured`).
const LINKS: &[(&str, &str, Targets)] = &[
    (
        "createInsured",
        "201",
        &[
            ("getInsured", PathId),
            ("listQuotes", Query("insured_id")),
            ("listPolicies", Query("insured_id")),
        ],
    ),
    (
        "createQuote",
        "201",
        &[
            ("getQuote", PathId),
            ("bindQuote", PathId),
            ("rateQuote", PathId),
        ],
    ),
    (
        "bindQuote",
        "201",
        &[
            ("getPolicy", PathId),
            ("activatePolicy", PathId),
            ("updatePolicy", PathId),
            ("cancelPolicy", PathId),
            ("listPayments", Query("policy_id")),
            ("uploadPolicyDocument", PathId),
            ("listPolicyDocuments", PathId),
        ],
    ),
    (
        "activatePolicy",
        "200",
        &[
            ("expirePolicy", PathId),
            ("cancelPolicy", PathId),
            ("listClaims", Query("policy_id")),
            ("listPayments", Query("policy_id")),
        ],
    ),
    ("createPayment", "201", &[("getPayment", PathId)]),
    (
        "createClaim",
        "201",
        &[
            ("getClaim", PathId),
            ("changeClaimStatus", PathId),
            ("uploadClaimDocument", PathId),
            ("listClaimDocuments", PathId),
        ],
    ),
    (
        "uploadPolicyDocument",
        "201",
        &[
            ("getDocument", PathId),
            ("downloadDocument", PathId),
            ("deleteDocument", PathId),
        ],
    ),
    (
        "uploadClaimDocument",
        "201",
        &[
            ("getDocument", PathId),
            ("downloadDocument", PathId),
            ("deleteDocument", PathId),
        ],
    ),
];

const ID: &str = "$response.body#/id";

/// Adds the links to the responses of `paths`.
pub fn add(paths: &mut Map<String, Value>) {
    for (from, status, targets) in LINKS {
        let Some(response) = operation(paths, from).and_then(|op| op["responses"].get_mut(status))
        else {
            continue;
        };
        for (to, target) in *targets {
            let parameter = match target {
                PathId => "path.id".to_owned(),
                Query(q) => format!("query.{q}"),
            };
            response["links"][name(to)] =
                json!({ "operationId": to, "parameters": { parameter: ID } });
        }
    }
}

fn name(operation_id: &str) -> String {
    let mut chars = operation_id.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn operation<'a>(paths: &'a mut Map<String, Value>, id: &str) -> Option<&'a mut Value> {
    paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|p| p.values_mut())
        .find(|op| op["operationId"] == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_link_names_what_the_document_has() {
        let document = crate::api::spec::document(&crate::api::spec::service());
        let spec: Value = serde_json::from_str(&document).unwrap_or_default();
        let mut paths = spec["paths"].as_object().cloned().unwrap_or_default();
        for (from, status, targets) in LINKS {
            let source = operation(&mut paths, from).cloned().unwrap_or_default();
            for (to, target) in *targets {
                let link = &source["responses"][status]["links"][name(to)];
                assert_eq!(link["operationId"], *to, "{from} {status}");
                let op = operation(&mut paths, to).cloned().unwrap_or_default();
                let (place, param) = match target {
                    PathId => ("path", "id"),
                    Query(q) => ("query", *q),
                };
                let has = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["in"] == place && p["name"] == param);
                assert!(has, "{from} → {to}: no {place} parameter {param}");
            }
        }
    }
}
