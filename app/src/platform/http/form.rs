//! `FormBody<T>`: an `application/x-www-form-urlencoded` body (what pusher-js posts to
//! `/broadcasting/auth`), bounded like `JsonBody` and naming the field at fault: a missing,
//! unknown or repeated field is 422 with `field`.

use poem::{Request, RequestBody};
use poem_openapi::{
    impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};
use serde::de::DeserializeOwned;

use crate::platform::error::Error;

pub struct FormBody<T>(pub T);

impl<T: Type> Payload for FormBody<T> {
    const CONTENT_TYPE: &'static str = "application/x-www-form-urlencoded";

    fn check_content_type(content_type: &str) -> bool {
        content_type.split(';').next().is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: DeserializeOwned> ParsePayload for FormBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = super::body::read_limited(req, body).await?;
        Ok(FormBody(parse(&bytes)?))
    }
}

impl_apirequest_for_payload!(FormBody<T>, T: DeserializeOwned + Type);

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let message = e.inner().to_string();
        let field = message
            .strip_prefix("missing field `")
            .or_else(|| message.strip_prefix("unknown field `"))
            .or_else(|| message.strip_prefix("duplicate field `"))
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
            .unwrap_or_else(|| match e.path().to_string().as_str() {
                "." => "body".to_owned(),
                path => path.to_owned(),
            });
        Error::validation(field, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Pair {
        socket_id: String,
        channel_name: String,
    }

    #[test]
    fn names_the_field_at_fault() {
        for (body, field) in [
            (&b"socket_id=1.2"[..], "channel_name"),
            (b"socket_id=1.2&channel_name=x&extra=1", "extra"),
        ] {
            let Err(Error::Validation { field: got, .. }) = parse::<Pair>(body) else {
                panic!("{body:?} passed")
            };
            assert_eq!(got, field);
        }
        assert!(parse::<Pair>(b"socket_id=1.2&channel_name=private-tenant.a").is_ok());
    }
}
