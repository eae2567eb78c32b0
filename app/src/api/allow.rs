//! RFC 9110: a 405 answer names the methods the resource does allow, in `Allow`. The routes and
//! their methods come from the OpenAPI document, so the header cannot drift from the API.

use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};
use telemetry::routes::RouteTemplates;

/// Adds `Allow` to every 405.
pub async fn add_allow_header<E: Endpoint>(
    next: E,
    req: Request,
    routes: Arc<RouteTemplates>,
) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let mut resp = next.call(req).await?.into_response();
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some((_, methods)) = routes.find(&path)
        && let Ok(value) = methods.join(", ").parse()
    {
        resp.headers_mut().insert("allow", value);
    }
    Ok(resp)
}
