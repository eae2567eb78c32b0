//! The OpenAPI document: generated from the handlers, then completed where poem-openapi cannot
//! say what the server does. Each step is derived from the generated document, never a list to
//! keep in step by hand:
//!
//! - Security: poem-openapi lists each scheme of an operation as its own requirement, which
//!   means "any one of them". Kong's three headers are required together: one requirement. An
//!   operation without any (the probes) says so with an empty list.
//! - Request bodies are closed: the server refuses unknown fields (`deny_unknown_fields`, and
//!   the upload form's reader), so every schema a body reaches, and the inline upload form,
//!   gets `additionalProperties: false`. Its optional properties are
//!   `nullable`, since `null` reads as absent, as it does for every generated client.
//! - A body that must name at least one field (a PATCH of nothing is 422) says so:
//!   `minProperties: 1` on the types `at_least_one_field` names.
//! - Every problem response carries an example (`errors::example`).
//! - Links (`links.rs`) lead from what a create answers to the operations that take its id, so
//!   a client generator or a stateful fuzzer can follow them.
//!
//! The served `/openapi.json`, Swagger UI, `policy-service openapi` and the committed
//! `app/openapi.json` all come from `document`.

use poem_openapi::{LicenseObject, OpenApiService, ServerObject};
use serde_json::{Map, Value};
use sha2::Digest;

use crate::platform::server::health::HealthApi;

use super::{
    broadcasting::BroadcastingApi,
    claims::ClaimsApi,
    documents::DocumentsApi,
    errors,
    insureds::InsuredsApi,
    links,
    payments::PaymentsApi,
    policies::{PoliciesApi, UpdatePolicy},
    problem,
    quotes::QuotesApi,
};

pub type Apis = (
    HealthApi,
    InsuredsApi,
    QuotesApi,
    PoliciesApi,
    PaymentsApi,
    ClaimsApi,
    DocumentsApi,
    BroadcastingApi,
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
            DocumentsApi,
            BroadcastingApi,
        ),
        "policy-service",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Multi-tenant insurance policies behind Kong. Every /v1 call carries Kong's consumer \
         headers; the consumer's custom_id names the tenant. Errors are RFC 9457 problem+json.",
    )
    .license(LicenseObject::new(env!("CARGO_PKG_LICENSE")))
    .server(
        ServerObject::new("/")
            .description("Where the document is served: through Kong in production"),
    )
}

/// The corrected document, pretty-printed with a final newline (as committed).
pub fn document(service: &OpenApiService<Apis, ()>) -> String {
    let mut spec: Value = match serde_json::from_str(&service.spec()) {
        Ok(v) => v,
        Err(_) => return service.spec(),
    };
    let mut bodies = Vec::new();
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        for operation in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|p| p.values_mut())
        {
            match operation.get_mut("security") {
                Some(security) => fold_requirements(security),
                // Said outright, so that a reader (or a linter) knows the probes are open.
                None => operation["security"] = Value::Array(vec![]),
            }
            add_problem_examples(operation);
            // An upload form is described inline: closed here (its reader refuses other fields).
            if let Some(form) = operation
                .pointer_mut("/requestBody/content/multipart~1form-data/schema")
                .and_then(Value::as_object_mut)
            {
                form.insert("additionalProperties".into(), Value::Bool(false));
            }
            bodies.extend(
                operation["requestBody"]["content"]
                    .as_object()
                    .into_iter()
                    .flat_map(|c| c.values())
                    .filter_map(|media| media["schema"]["$ref"].as_str())
                    .map(str::to_owned),
            );
        }
        links::add(paths);
    }
    if let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        close(schemas, bodies);
        for name in at_least_one_field() {
            if let Some(schema) = schemas.get_mut(name.as_ref()) {
                schema["minProperties"] = Value::from(1);
            }
        }
    }
    let mut text = serde_json::to_string_pretty(&spec).unwrap_or_else(|_| service.spec());
    text.push('\n');
    text
}

/// The bodies the server refuses when they name no field (their handlers answer 422).
fn at_least_one_field() -> [std::borrow::Cow<'static, str>; 1] {
    [<UpdatePolicy as poem_openapi::types::Type>::name()]
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

fn add_problem_examples(operation: &mut Value) {
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        let example = status
            .parse()
            .ok()
            .and_then(errors::example)
            .and_then(|p| serde_json::to_value(p).ok());
        if let (Some(media), Some(example)) = (
            response.pointer_mut(&format!(
                "/content/{}",
                problem::CONTENT_TYPE.replace('/', "~1")
            )),
            example,
        ) {
            media["example"] = example;
        }
    }
}

/// Closes every schema reachable from a request body (see the module's notes).
fn close(schemas: &mut Map<String, Value>, mut refs: Vec<String>) {
    let mut seen = Vec::new();
    while let Some(reference) = refs.pop() {
        let Some(name) = reference.strip_prefix("#/components/schemas/") else {
            continue;
        };
        if seen.iter().any(|s| s == name) {
            continue;
        }
        seen.push(name.to_owned());
        let Some(schema) = schemas.get_mut(name).and_then(Value::as_object_mut) else {
            continue;
        };
        let required: Vec<Value> = schema
            .get("required")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, property) in properties.iter_mut() {
            for r in [&property["$ref"], &property["items"]["$ref"]] {
                refs.extend(r.as_str().map(str::to_owned));
            }
            if !required.iter().any(|r| r == name.as_str()) {
                if let Some(r) = property.get("$ref").cloned() {
                    // OpenAPI 3.0 ignores a `$ref`'s siblings: nest it to make it nullable.
                    *property = serde_json::json!({ "allOf": [{ "$ref": r }] });
                }
                property["nullable"] = Value::Bool(true);
            }
        }
        schema.insert("additionalProperties".into(), Value::Bool(false));
    }
}

/// The document's paths and their methods, and the GET routes served beside it (`/docs`, …),
/// for route labels and `Allow`.
pub fn route_templates<'a>(
    document: &str,
    beside: impl IntoIterator<Item = &'a str>,
) -> telemetry::routes::RouteTemplates {
    let spec: Value = serde_json::from_str(document).unwrap_or_default();
    let paths = spec["paths"].as_object().cloned().unwrap_or_default();
    let documented = paths.into_iter().map(|(path, item)| {
        let methods: Vec<String> = item
            .as_object()
            .map(|ops| ops.keys().map(|m| m.to_ascii_uppercase()).collect())
            .unwrap_or_default();
        (path, with_head(methods))
    });
    let beside = beside
        .into_iter()
        .map(|p| (p.to_owned(), with_head(vec!["GET".to_owned()])));
    telemetry::routes::RouteTemplates::new(documented.chain(beside))
}

/// poem answers HEAD wherever GET is (as RFC 9110 asks), so `Allow` names it too.
fn with_head(mut methods: Vec<String>) -> Vec<String> {
    if methods.iter().any(|m| m == "GET") {
        methods.push("HEAD".to_owned());
    }
    methods.sort();
    methods
}

/// Swagger UI: its page, with the corrected document embedded, and its two assets, which the
/// page loads from `asset_base` (the CDN in production, else the service itself) so that a
/// browser or a CDN caches them once instead of receiving 1.5 MB with every page.
pub struct SwaggerUi {
    pub html: String,
    pub css: String,
    pub js: String,
}

/// The assets' paths; the page asks for them with `?v=` a hash of the page, so a new Swagger UI
/// (or document) is a new URL and the old one can be cached for good.
pub const SWAGGER_CSS: &str = "/docs/swagger-ui.css";
pub const SWAGGER_JS: &str = "/docs/swagger-ui-bundle.js";

pub fn swagger_ui(
    service: &OpenApiService<Apis, ()>,
    document: &str,
    asset_base: &str,
) -> SwaggerUi {
    let html = service
        .swagger_ui_html()
        .replacen(&service.spec(), document, 1);
    let Some((before, css, after)) = cut(&html, "<style charset=\"UTF-8\">", "</style>") else {
        return SwaggerUi {
            html,
            css: String::new(),
            js: String::new(),
        };
    };
    let version = &hex::encode(sha2::Sha256::digest(html.as_bytes()))[..12];
    let linked = format!(
        "{before}<link rel=\"stylesheet\" href=\"{asset_base}{SWAGGER_CSS}?v={version}\">{after}"
    );
    let Some((before, js, after)) = cut(&linked, "<script charset=\"UTF-8\">", "</script>") else {
        return SwaggerUi {
            html,
            css: String::new(),
            js: String::new(),
        };
    };
    SwaggerUi {
        html: format!(
            "{before}<script charset=\"UTF-8\" src=\"{asset_base}{SWAGGER_JS}?v={version}\"></script>{after}"
        ),
        css: css.to_owned(),
        js: js.to_owned(),
    }
}

/// `text` split around the first `open … close`: before, between, after (markers dropped).
fn cut<'a>(text: &'a str, open: &str, close: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let start = text.find(open)?;
    let inner = start + open.len();
    let end = inner + text[inner..].find(close)?;
    Some((
        &text[..start],
        &text[inner..end],
        &text[end + close.len()..],
    ))
}
