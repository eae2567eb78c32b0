//! `UploadForm`: a `multipart/form-data` document upload, read as a stream.
//!
//! poem-openapi's own multipart payload reads every part before the handler runs, with no
//! limit. This one keeps the derived schema for the document (so generated clients get the
//! form) but reads the parts itself: the file goes straight to a spool file (`documents::spool`)
//! and stops at DOCUMENTS_MAX_BYTES with 413; the small fields are read to a few bytes at most;
//! an unknown, repeated or missing field is 422 naming it.

use std::sync::Arc;

use poem::{FromRequest, Request, RequestBody, web::Multipart};
use poem_openapi::{
    Multipart, impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::multipart::Upload,
};
use serde::de::DeserializeOwned;
use tokio::io::AsyncReadExt;

use crate::{
    documents::spool::{Spooled, spool},
    domain::document::{DocumentType, Visibility},
    error::Error,
    state::AppState,
};

/// The form's schema, as the document shows it; `UploadForm` parses the stream itself.
#[derive(Multipart)]
#[oai(deny_unknown_fields)]
#[allow(dead_code)]
struct UploadSchema {
    /// The file: PDF, JPEG, PNG, WebP, HEIC or TIFF, known by its bytes (a declared type that
    /// contradicts them is 422); at most DOCUMENTS_MAX_BYTES (else 413).
    file: Upload,
    /// What the document is; it decides the storage class.
    #[oai(rename = "type")]
    kind: DocumentType,
    /// `private` (the default) or `public`.
    visibility: Option<Visibility>,
}

pub struct UploadForm {
    pub file: Spooled,
    pub declared: Option<String>,
    pub filename: Option<String>,
    pub kind: DocumentType,
    pub visibility: Visibility,
}

impl Payload for UploadForm {
    const CONTENT_TYPE: &'static str = "multipart/form-data";

    fn check_content_type(content_type: &str) -> bool {
        <UploadSchema as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        <UploadSchema as Payload>::schema_ref()
    }

    fn register(registry: &mut Registry) {
        <UploadSchema as Payload>::register(registry);
    }
}

impl ParsePayload for UploadForm {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let state = req
            .data::<Arc<AppState>>()
            .ok_or_else(|| Error::Internal("no state".into()))?;
        let config = &state.documents.config;
        let malformed = |e: poem::error::ParseMultipartError| {
            Error::bad_request(None, format!("malformed multipart body: {e}"))
        };
        let mut multipart = Multipart::from_request(req, body).await?;
        let (mut file, mut kind, mut visibility) = (None, None, None);
        while let Some(field) = multipart.next_field().await.map_err(malformed)? {
            let name = field.name().unwrap_or_default().to_owned();
            match name.as_str() {
                "file" if file.is_none() => {
                    let declared = field.content_type().map(str::to_owned);
                    let filename = field.file_name().map(str::to_owned);
                    let spooled = spool(
                        field.into_async_read(),
                        &config.spool_dir(),
                        config.documents_max_bytes,
                    )
                    .await?;
                    file = Some((spooled, declared, filename));
                }
                "type" if kind.is_none() => kind = Some(choice(&name, field).await?),
                "visibility" if visibility.is_none() => {
                    visibility = Some(choice(&name, field).await?)
                }
                "file" | "type" | "visibility" => {
                    return Err(Error::validation(name, "given more than once").into());
                }
                _ => return Err(Error::validation(name, "unknown field").into()),
            }
        }
        let (file, declared, filename) =
            file.ok_or_else(|| Error::validation("file", "missing field"))?;
        Ok(UploadForm {
            file,
            declared,
            filename,
            kind: kind.ok_or_else(|| Error::validation("type", "missing field"))?,
            visibility: visibility.unwrap_or_default(),
        })
    }
}

impl_apirequest_for_payload!(UploadForm);

/// A small field naming one of an enum's values (read to 64 bytes at most).
async fn choice<T: DeserializeOwned>(name: &str, field: poem::web::Field) -> Result<T, Error> {
    let mut text = String::new();
    field
        .into_async_read()
        .take(64)
        .read_to_string(&mut text)
        .await
        .map_err(|e| Error::validation(name, format!("not text: {e}")))?;
    serde_json::from_value(serde_json::Value::String(text.trim().to_owned()))
        .map_err(|e| Error::validation(name, e.to_string()))
}
