//! RFC 9110: a 405 answer names the methods the resource does allow, in `Allow`. The routes and
//! their methods come from the OpenAPI document, so the header cannot drift from the API.

use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};
use serde_json::Value;

/// Path templates (segments, `{…}` matching any one) and the methods each allows.
pub struct AllowedMethods(Vec<(Vec<String>, String)>);

impl AllowedMethods {
    pub fn from_document(document: &str) -> AllowedMethods {
        let spec: Value = serde_json::from_str(document).unwrap_or_default();
        let routes = spec["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(path, item)| {
                        let mut methods: Vec<String> = item
                            .as_object()
                            .map(|ops| ops.keys().map(|m| m.to_ascii_uppercase()).collect())
                            .unwrap_or_default();
                        methods.sort();
                        (segments(path), methods.join(", "))
                    })
                    .collect()
            })
            .unwrap_or_default();
        AllowedMethods(routes)
    }

    fn allow(&self, path: &str) -> Option<&str> {
        let asked = segments(path);
        self.0
            .iter()
            .find(|(template, _)| {
                template.len() == asked.len()
                    && template
                        .iter()
                        .zip(&asked)
                        .all(|(t, a)| t.starts_with('{') || t == a)
            })
            .map(|(_, methods)| methods.as_str())
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Adds `Allow` to every 405.
pub async fn add_allow_header<E: Endpoint>(
    next: E,
    req: Request,
    routes: Arc<AllowedMethods>,
) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let mut resp = next.call(req).await?.into_response();
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(methods) = routes.allow(&path)
        && let Ok(value) = methods.parse()
    {
        resp.headers_mut().insert("allow", value);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_templates_segment_by_segment() {
        let doc =
            r#"{"paths":{"/v1/policies/{id}":{"get":{},"patch":{}},"/v1/policies":{"get":{}}}}"#;
        let routes = AllowedMethods::from_document(doc);
        assert_eq!(routes.allow("/v1/policies/abc"), Some("GET, PATCH"));
        assert_eq!(routes.allow("/v1/policies"), Some("GET"));
        assert_eq!(routes.allow("/v1/policies/abc/x"), None);
    }
}
