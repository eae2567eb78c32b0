//! Which errors each operation documents. A handler returns `Result<T, Problems<S>>`, where `S`
//! names, as bits, what it may answer besides what every `/v1` operation may (400, 401, 403,
//! 503), so its signature states its errors and the document lists only those: a GET by id
//! cannot give 413 or 415. An error outside its set is still sent, and logged as a bug.

use poem_openapi::error::ContentTypeError;
use poem_openapi::{
    ApiResponse,
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::Type,
};

use super::problem::{CONTENT_TYPE, Problem};
use crate::platform::error::Error;

/// No such record in the caller's tenant.
pub const NOT_FOUND: u16 = 1;
/// The record's state forbids it, or a unique value is taken.
pub const CONFLICT: u16 = 2;
/// It reads a JSON body: too large (413), not JSON (415), a field's value (422).
pub const BODY: u16 = 4;
/// It reads a form body (`application/x-www-form-urlencoded`): too large, not a form, a field.
pub const FORM: u16 = 8;
/// It reads an upload (`multipart/form-data`): too large, not multipart or a file of a type
/// not taken, a field.
pub const UPLOAD: u16 = 16;
/// It holds something open (an event stream) of which a tenant may have only so many.
pub const LIMITED: u16 = 32;

/// Every error status the API documents: the bit that lists it (0: every `/v1` operation), what
/// it means, and an error of that status, rendered as the example shown with it.
#[allow(clippy::type_complexity)]
const DOCUMENTED: [(u16, u16, &str, fn() -> poem::Error); 16] = [
    (
        400,
        0,
        "The request cannot be read: malformed JSON, or a parameter, path id or header that is \
         not of its documented form; `field` names it.",
        || {
            Error::bad_request(
                Some("id"),
                "must be a UUID such as 0192f4a0-7b8e-7c3d-9a4f-1b2c3d4e5f60",
            )
            .into()
        },
    ),
    (
        401,
        0,
        "Kong's consumer headers (or, when the service requires it, Kong's X-Gateway-Secret) are \
         missing: the request did not come through the gateway.",
        || {
            Error::Unauthenticated("X-Consumer-ID and X-Authenticated-Userid are required: call through the API gateway".into()).into()
        },
    ),
    (
        403,
        0,
        "The consumer's tenant (`X-Consumer-Custom-ID`) is unknown or suspended.",
        || Error::Forbidden("the tenant is suspended".into()).into(),
    ),
    (
        404,
        NOT_FOUND,
        "No such record in the caller's tenant.",
        || Error::NotFound("policy").into(),
    ),
    (
        409,
        CONFLICT,
        "The record's state does not allow this, or a unique value is taken; `code` says which.",
        || {
            Error::conflict(
                "policy_not_payable",
                "a cancelled policy does not take payments",
            )
            .into()
        },
    ),
    (
        413,
        BODY,
        "The body is larger than the service accepts (MAX_BODY_BYTES).",
        || Error::PayloadTooLarge(1 << 20).into(),
    ),
    (415, BODY, "The body is not `application/json`.", || {
        ContentTypeError::NotSupported {
            content_type: "text/plain".into(),
        }
        .into()
    }),
    (
        422,
        BODY,
        "A value is not acceptable. `field` names it: a JSON path into the body such as \
         `coverages[0].limit_minor`, `body` for the body as a whole, or `Idempotency-Key`.",
        || {
            Error::validation(
                "coverages[0].deductible_minor",
                "must not exceed limit_minor",
            )
            .into()
        },
    ),
    (
        413,
        FORM,
        "The body is larger than the service accepts (MAX_BODY_BYTES).",
        || Error::PayloadTooLarge(1 << 20).into(),
    ),
    (
        415,
        FORM,
        "The body is not `application/x-www-form-urlencoded`.",
        || {
            ContentTypeError::NotSupported {
                content_type: "text/plain".into(),
            }
            .into()
        },
    ),
    (
        422,
        FORM,
        "A form field is missing, unknown or not acceptable; `field` names it.",
        || {
            Error::validation(
                "socket_id",
                "must be two numbers joined by a dot, such as 1234.5678",
            )
            .into()
        },
    ),
    (
        413,
        UPLOAD,
        "The file is larger than the service accepts (DOCUMENTS_MAX_BYTES).",
        || Error::PayloadTooLarge(50 << 20).into(),
    ),
    (
        415,
        UPLOAD,
        "The body is not `multipart/form-data`, or the file's bytes are not of an accepted type \
         (PDF, JPEG, PNG, WebP, HEIC, TIFF); `field` is `file` then.",
        || {
            Error::UnsupportedMediaType {
                field: "file".into(),
                detail: "the file is not one of the accepted types".into(),
            }
            .into()
        },
    ),
    (
        422,
        UPLOAD,
        "A form field is missing, unknown or not acceptable, or the file's declared type \
         contradicts its bytes; `field` names it.",
        || {
            Error::validation(
                "file",
                "declared as image/png, but its bytes are application/pdf",
            )
            .into()
        },
    ),
    (
        429,
        LIMITED,
        "The caller's tenant holds as many of these open as it may (event streams: \
         BROADCAST_MAX_TENANT_STREAMS on this instance); `Retry-After` gives the seconds to wait.",
        || {
            Error::TooMany {
                what: "event streams of this tenant".into(),
                retry_after: std::time::Duration::from_secs(5),
            }
            .into()
        },
    ),
    (
        503,
        0,
        "A dependency (the database, the document store, a partner) is unavailable or busy; \
         retry later. While a circuit breaker is open, `Retry-After` gives the seconds to wait.",
        || Error::Unavailable("database busy, try again".into()).into(),
    ),
];

fn documented(set: u16, status: u16) -> bool {
    DOCUMENTED
        .iter()
        .any(|(s, bit, ..)| *s == status && (*bit == 0 || set & bit != 0))
}

/// The example problem shown with a documented status.
pub fn example(status: u16) -> Option<Problem> {
    let (.., error) = DOCUMENTED.iter().find(|(s, ..)| *s == status)?;
    Some(super::problem::of(&error(), None))
}

/// An operation's error: an `Error` whose possible statuses are the type's `S` (see `NOT_FOUND`).
#[derive(Debug)]
pub struct Problems<const S: u16>(Error);

impl<const S: u16> From<Error> for Problems<S> {
    fn from(err: Error) -> Self {
        let status = err.status();
        if status != 500 && !documented(S, status) {
            // The document promised clients this cannot happen: a bug to fix in the handler's type.
            tracing::error!(status, error = %err, "answering with a status the document does not list");
        }
        Problems(err)
    }
}

/// Into poem's error as the `Error` it carries, which renders itself (`problem`).
impl<const S: u16> From<Problems<S>> for poem::Error {
    fn from(p: Problems<S>) -> poem::Error {
        p.0.into()
    }
}

impl<const S: u16> ApiResponse for Problems<S> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: DOCUMENTED
                .iter()
                .filter(|(status, ..)| documented(S, *status))
                .map(|(status, _, description, _)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: CONTENT_TYPE,
                        schema: Problem::schema_ref(),
                    }],
                    headers: if matches!(*status, 429 | 503) {
                        vec![MetaHeader {
                            name: "Retry-After".into(),
                            description: Some(
                                "Seconds to wait before retrying, when known.".into(),
                            ),
                            required: false,
                            deprecated: false,
                            schema: u64::schema_ref(),
                        }]
                    } else {
                        vec![]
                    },
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}
