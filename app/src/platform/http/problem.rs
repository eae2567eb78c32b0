//! RFC 9457 problem details: how every error leaves the service.
//!
//! Two doors lead here. Our own `Error` renders itself (`ResponseError`), and the catch-all
//! (`catch`) turns whatever poem or poem-openapi rejected before a handler ran — a bad query
//! parameter, a wrong content type, an unknown route — into the same shape, so a client never
//! sees a plain-text error or a 500 for its own input.

use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Request, Response,
    error::{MethodNotAllowedError, NotFoundError, ResponseError},
    http::{StatusCode, header},
};
use poem_openapi::{
    Object,
    error::{ContentTypeError, ParseParamError, ParsePathError},
};
use serde::Serialize;
use telemetry::routes::RouteTemplates;

use crate::platform::error::Error;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem.
#[derive(Debug, Object, Serialize)]
pub struct Problem {
    /// A URI reference naming the kind of problem; `about:blank` when the status says it all.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The request field at fault (a JSON path such as `coverages[0].code`, or a parameter name).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A stable, machine-readable reason for 409s (e.g. `quote_expired`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl Problem {
    fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: if kind == "about:blank" {
                kind.to_owned()
            } else {
                format!("/problems/{kind}")
            },
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            code: None,
        }
    }

    fn field(mut self, field: Option<String>) -> Problem {
        self.field = field;
        self
    }

    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        Response::builder()
            .status(status)
            .content_type(CONTENT_TYPE)
            .body(body)
    }
}

impl From<&Error> for Problem {
    fn from(err: &Error) -> Problem {
        let status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match err {
            Error::BadRequest { field, detail } => {
                Problem::new(status, "bad-request", detail).field(field.clone())
            }
            Error::Validation { field, detail } => {
                Problem::new(status, "validation", detail).field(Some(field.clone()))
            }
            Error::UnsupportedMediaType { field, detail } => {
                Problem::new(status, "unsupported-media-type", detail).field(Some(field.clone()))
            }
            Error::IdempotencyMismatch => {
                Problem::new(status, "idempotency-mismatch", err.to_string())
                    .field(Some("Idempotency-Key".into()))
            }
            Error::Conflict { code, detail } => {
                let mut p = Problem::new(status, "conflict", detail);
                p.code = Some((*code).to_owned());
                p
            }
            Error::Unauthenticated(_) => Problem::new(status, "unauthenticated", err.to_string()),
            Error::Forbidden(_) => Problem::new(status, "forbidden", err.to_string()),
            Error::NotFound(_) => Problem::new(status, "not-found", err.to_string()),
            Error::PayloadTooLarge(_) => Problem::new(status, "about:blank", err.to_string()),
            Error::TooMany { .. } => Problem::new(status, "too-many", err.to_string()),
            Error::Unavailable(_) | Error::CircuitOpen { .. } => {
                Problem::new(status, "unavailable", err.to_string())
            }
            Error::Config(_) | Error::Database(_) | Error::Migrate(_) | Error::Internal(_) => {
                // The cause is logged, never sent: it may name tables, hosts or secrets.
                tracing::error!(error = %err, "request failed");
                Problem::new(
                    status,
                    "internal",
                    "the service failed; the error is logged",
                )
            }
        }
    }
}

impl ResponseError for Error {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(Error::status(self)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn as_response(&self) -> Response {
        with_retry_after(Problem::from(self).into_response(), self)
    }
}

/// The catch-all around the routes: any error that reached the top becomes a problem response.
/// It knows the route the request matched (`routes`, from the OpenAPI document), to name a path
/// parameter (poem-openapi calls them `param0`, `param1`, … internally) and, as RFC 9110 asks of
/// a 405, to list the methods the route does allow in `Allow`.
pub async fn catch<E: Endpoint>(
    next: E,
    req: Request,
    routes: Arc<RouteTemplates>,
) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let err = match next.call(req).await {
        Ok(resp) => return Ok(resp.into_response()),
        Err(err) => err,
    };
    let route = routes.find(&path);
    let mut resp = of(&err, route.map(|r| r.0)).into_response();
    if let Some(e) = err.downcast_ref::<Error>() {
        resp = with_retry_after(resp, e);
    }
    if err.is::<MethodNotAllowedError>()
        && let Some(Ok(allow)) = route.map(|r| r.1.join(", ").parse())
    {
        resp.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(resp)
}

/// What the server's probe lane answers a request that is not a probe, when every
/// `HTTP_MAX_CONNECTIONS` slot is taken: 503, come back in a second (or elsewhere).
pub fn overloaded() -> Response {
    let mut resp = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "this instance is serving all the connections it takes; retry",
    )
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(1));
    resp
}

/// A 503 that knows when to come back says so (RFC 9110 `Retry-After`, in seconds).
fn with_retry_after(mut resp: Response, err: &Error) -> Response {
    if let Some(secs) = err.retry_after() {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    resp
}

/// The problem an error becomes; `template` is the route's (`/v1/quotes/{id}/bind`), if known.
pub fn of(err: &poem::Error, template: Option<&str>) -> Problem {
    if let Some(e) = err.downcast_ref::<Error>() {
        return Problem::from(e);
    }
    let status = err.status();
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", &e.reason)
            .field(Some(e.name.to_owned()))
    } else if let Some(e) = err.downcast_ref::<ParsePathError>() {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", &e.reason)
            .field(Some(path_parameter(e.name, template)))
    } else if err.is::<ContentTypeError>() {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "about:blank",
            err.to_string(),
        )
    } else if err.is::<NotFoundError>() {
        Problem::new(StatusCode::NOT_FOUND, "about:blank", "no such route")
    } else if err.is::<MethodNotAllowedError>() {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "about:blank",
            "method not allowed on this route",
        )
    } else if status.is_server_error() {
        tracing::error!(error = %err, "request failed");
        Problem::new(
            status,
            "internal",
            "the service failed; the error is logged",
        )
    } else {
        Problem::new(status, "about:blank", err.to_string())
    }
}

/// poem-openapi's `paramN` is the template's N-th `{name}`.
fn path_parameter(internal: &str, template: Option<&str>) -> String {
    internal
        .strip_prefix("param")
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| {
            template?
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .nth(n)
        })
        .unwrap_or(internal)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_get_their_documented_names() {
        let template = Some("/v1/things/{thing}/parts/{id}");
        assert_eq!(path_parameter("param0", template), "thing");
        assert_eq!(path_parameter("param1", template), "id");
        assert_eq!(path_parameter("param2", template), "param2");
        assert_eq!(path_parameter("param0", None), "param0");
    }
}
