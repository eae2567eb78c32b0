//! The OpenAPI document: generated from the handlers, then one correction.
//!
//! poem-openapi lists each security scheme of an operation as its own requirement, which in
//! OpenAPI means "any one of them". Kong's three headers are required together, so `document`
//! folds them into one requirement object ("all of them"). The served `/openapi.json`, Swagger
//! UI, `policy-service openapi` and the committed `app/openapi.json` all come from `document`.

use poem_openapi::OpenApiService;
use serde_json::{Map, Value};

use super::{
    claims::ClaimsApi, health::HealthApi, insureds::InsuredsApi, payments::PaymentsApi,
    policies::PoliciesApi, quotes::QuotesApi,
};

pub type Apis = (
    HealthApi,
    InsuredsApi,
    QuotesApi,
    PoliciesApi,
    PaymentsApi,
    ClaimsApi,
);

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            HealthApi,
            InsuredsApi,
            QuotesApi,
            PoliciesApi,
            PaymentsApi,
            ClaimsApi,
        ),
        "policy-service",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Multi-tenant insurance policies behind Kong. Every /v1 call carries Kong's consumer \
         headers; the consumer's custom_id names the tenant. Errors are RFC 9457 problem+json.",
    )
}

/// The corrected document, pretty-printed with a final newline (as committed).
pub fn document(service: &OpenApiService<Apis, ()>) -> String {
    let mut spec: Value = match serde_json::from_str(&service.spec()) {
        Ok(v) => v,
        Err(_) => return service.spec(),
    };
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        for operation in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|p| p.values_mut())
        {
            if let Some(security) = operation.get_mut("security") {
                fold_requirements(security);
            }
        }
    }
    let mut text = serde_json::to_string_pretty(&spec).unwrap_or_else(|_| service.spec());
    text.push('\n');
    text
}

fn fold_requirements(security: &mut Value) {
    let Some(requirements) = security.as_array() else {
        return;
    };
    let mut all = Map::new();
    for requirement in requirements.iter().filter_map(Value::as_object) {
        all.extend(requirement.clone());
    }
    *security = Value::Array(vec![Value::Object(all)]);
}

/// The document's paths and their methods, for route templates and `Allow`.
pub fn route_templates(document: &str) -> telemetry::routes::RouteTemplates {
    let spec: Value = serde_json::from_str(document).unwrap_or_default();
    let paths = spec["paths"].as_object().cloned().unwrap_or_default();
    telemetry::routes::RouteTemplates::new(paths.into_iter().map(|(path, item)| {
        let mut methods: Vec<String> = item
            .as_object()
            .map(|ops| ops.keys().map(|m| m.to_ascii_uppercase()).collect())
            .unwrap_or_default();
        methods.sort();
        (path, methods)
    }))
}

/// Swagger UI with the corrected document embedded.
pub fn swagger_html(service: &OpenApiService<Apis, ()>, document: &str) -> String {
    service
        .swagger_ui_html()
        .replacen(&service.spec(), document, 1)
}
