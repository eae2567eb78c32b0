//! A JSON response whose body was rendered once per cached value (`cache::Memo`) and is sent as
//! bytes after that. To the OpenAPI document it is exactly `Json<T>`: same media type, same
//! schema, same bytes on the wire.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse,
    payload::Payload,
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};

use crate::platform::cache::Memo;

const CONTENT_TYPE: &str = "application/json; charset=utf-8";

pub struct Rendered<T> {
    body: Bytes,
    of: PhantomData<fn() -> T>,
}

impl<T: ToJSON> Rendered<T> {
    /// `memo`'s body, rendered as `T` by `view` the first time.
    pub fn of<S>(memo: &Memo<S>, view: impl FnOnce(&S) -> T) -> Rendered<T> {
        let body = memo.rendered(|value| {
            // Serializing a JSON value cannot fail: its keys are strings.
            Bytes::from(serde_json::to_vec(&view(value).to_json()).unwrap_or_default())
        });
        Rendered {
            body,
            of: PhantomData,
        }
    }
}

impl<T: Type> Payload for Rendered<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for Rendered<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(CONTENT_TYPE)
            .body(self.body)
    }
}

impl<T: Type + Send> ApiResponse for Rendered<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: CONTENT_TYPE,
                    schema: T::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
