//! `JsonBody<T>`: a JSON request body that names the field at fault.
//!
//! poem-openapi's own `Json<T>` reports type errors without saying which field failed. This
//! payload keeps `T`'s schema for the spec but parses with serde through `serde_path_to_error`,
//! so `{"amount_minor": "ten"}` answers 422 with `field: "amount_minor"`. Malformed JSON is 400,
//! a body over MAX_BODY_BYTES is 413 (counted while reading, so a missing Content-Length does
//! not get around it).

use std::sync::Arc;

use poem::{Request, RequestBody, error::ReadBodyError};
use poem_openapi::{
    impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
};
use serde::de::DeserializeOwned;

use crate::platform::{Platform, error::Error};

pub struct JsonBody<T>(pub T);

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .map(|essence| {
                let essence = essence.trim().to_ascii_lowercase();
                essence == "application/json"
                    || (essence.starts_with("application/") && essence.ends_with("+json"))
            })
            .unwrap_or(false)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON + DeserializeOwned> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = read_limited(req, body).await?;
        Ok(JsonBody(parse(&bytes)?))
    }
}

impl_apirequest_for_payload!(JsonBody<T>, T: ParseFromJSON + DeserializeOwned);

/// The whole body, at most MAX_BODY_BYTES (counted while reading, so a missing Content-Length
/// does not get around it): 413 beyond.
pub async fn read_limited(req: &Request, body: &mut RequestBody) -> poem::Result<bytes::Bytes> {
    let limit = req
        .data::<Arc<Platform>>()
        .map(|s| s.config.server.max_body_bytes)
        .unwrap_or(1 << 20);
    Ok(body
        .take()?
        .into_bytes_limit(limit)
        .await
        .map_err(|e| match e {
            ReadBodyError::PayloadTooLarge => Error::PayloadTooLarge(limit),
            other => Error::bad_request(None, other.to_string()),
        })?)
}

/// Two passes over a small body, each catching what the other misses: serde (with the path of
/// the failing field, duplicate keys, missing fields), then poem-openapi's own parser, which
/// follows the published schema's shape strictly (serde would take `["Ada", "a@b.io", null]` for
/// an object, field by position).
fn parse<T: DeserializeOwned + ParseFromJSON>(bytes: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let typed = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            // serde_json ends a message with where it stopped; the field already says where.
            let message = inner.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m)
                .to_owned();
            Error::validation(field_at_fault(&path, &message), message)
        } else {
            Error::bad_request(None, format!("malformed JSON: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| Error::bad_request(None, format!("malformed JSON: {e}")))?;
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::bad_request(None, format!("malformed JSON: {e}")))?;
    // Its validators (lengths, ranges, patterns) document the rules the domain enforces with
    // exact field paths (`coverages[3].code`), so only a shape error is reported from here.
    if let Err(e) = T::parse_from_json(Some(value)) {
        let message = e.into_message();
        if !message.contains("verification failed") {
            return Err(Error::validation("body", message));
        }
    }
    Ok(typed)
}

/// serde reports a missing field at the object that lacks it; name the field itself.
fn field_at_fault(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(field)) => field.to_owned(),
        (_, Some(field)) => format!("{path}.{field}"),
        (".", None) => "body".to_owned(),
        (_, None) => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, poem_openapi::Object, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }

    #[derive(serde::Deserialize, poem_openapi::Object, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        amount: i64,
    }

    #[test]
    fn names_the_nested_field() {
        let Err(Error::Validation { field, .. }) =
            parse::<Outer>(br#"{"items":[{"amount":1},{"amount":"x"}]}"#)
        else {
            panic!("expected a validation error")
        };
        assert_eq!(field, "items[1].amount");
    }

    #[test]
    fn names_a_missing_field_and_refuses_arrays_for_objects() {
        let Err(Error::Validation { field, .. }) = parse::<Outer>(br#"{"items":[{}]}"#) else {
            panic!("expected a validation error")
        };
        assert_eq!(field, "items[0].amount");
        let Err(Error::Validation { field, .. }) = parse::<Outer>(br#"{"items":[[1]]}"#) else {
            panic!("expected a validation error")
        };
        assert_eq!(field, "body");
    }

    #[test]
    fn malformed_and_trailing_json_are_bad_requests() {
        assert!(matches!(
            parse::<Outer>(b"{\"items\":"),
            Err(Error::BadRequest { .. })
        ));
        assert!(matches!(
            parse::<Outer>(b"{\"items\":[]} x"),
            Err(Error::BadRequest { .. })
        ));
    }
}
