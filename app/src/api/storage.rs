//! `/storage/{public|private}/{key}`: the local disk's objects, served the way S3 serves a
//! bucket (Laravel's `storage:link`): public ones to anyone, private ones only by a signed,
//! unexpired URL from `?redirect=true`. Outside `/v1`, so Kong's consumer headers are not
//! needed: the URL is the credential. With `FILESYSTEM_DISK=s3` it is 404 (S3 serves them).

use std::sync::Arc;

use poem::{
    Body, Response, handler,
    web::{Data, Path, Query},
};
use serde::Deserialize;

use crate::{
    platform::documents::{Bucket, Fetched, ObjectKey},
    platform::error::Error,
    state::AppState,
};

#[derive(Deserialize)]
pub struct Signed {
    expires: Option<i64>,
    signature: Option<String>,
}

#[handler]
pub async fn serve(
    state: Data<&Arc<AppState>>,
    Path((visibility, key)): Path<(String, String)>,
    Query(signed): Query<Signed>,
) -> Response {
    let docs = &state.documents;
    let parsed = ObjectKey::parse(&key).filter(|_| docs.serves_storage());
    let (bucket, (key, content)) = match (visibility.as_str(), parsed) {
        ("public", Some(k)) => (Bucket::Public, k),
        ("private", Some(k)) => {
            let genuine = match (signed.expires, signed.signature.as_deref()) {
                (Some(expires), Some(signature)) => docs.verify_signed(&k.0, expires, signature),
                _ => false,
            };
            if !genuine {
                let refused =
                    Error::Forbidden("the URL's signature is missing, wrong or expired".into());
                return poem::Error::from(refused).into_response();
            }
            (Bucket::Private, k)
        }
        _ => return poem::Error::from(Error::NotFound("object")).into_response(),
    };
    match docs.get(bucket, &key).await {
        Ok(Fetched::Body { stream, length }) => Response::builder()
            .content_type(content.mime())
            .header("Content-Length", length)
            .header("X-Content-Type-Options", "nosniff")
            .body(Body::from_bytes_stream(stream)),
        Ok(_) => poem::Error::from(Error::NotFound("object")).into_response(),
        Err(e) => poem::Error::from(e).into_response(),
    }
}
