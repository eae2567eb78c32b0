//! `UploadForm`: a `multipart/form-data` document upload, read as a stream.
//!
//! poem-openapi's own multipart payload reads every part before the handler runs, with no
//! limit. This one keeps the derived schema for the document (so generated clients get the
//! form) but reads the parts itself, with multer:
//! - the file goes straight to a spool file (`documents::spool`) and stops at
//!   DOCUMENTS_MAX_BYTES with 413;
//! - `type` and `visibility` are read whole, to `MAX_CHOICE` bytes (more is 422), and must be
//!   exactly one of their values;
//! - the framing around the parts (the preamble, each part's header block) is bounded by
//!   `framing` to `MAX_PART_HEADER` bytes, so memory stays flat whatever the body;
//! - an unknown, repeated or missing field is 422 naming it.

use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use poem::{Request, RequestBody};
use poem_openapi::{
    Multipart, impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::multipart::Upload,
};
use serde::de::DeserializeOwned;

use super::framing::{Framed, FramingTooLarge};
use crate::{
    domain::document::DocumentType,
    platform::documents::content::Visibility,
    platform::documents::spool::{Spooled, spool},
    platform::error::Error,
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
    // `type` (it decides the storage class) and `visibility` (`private` unless given) are
    // plain references to their schemas: a description would wrap each in an `allOf`, which
    // generators read as untyped (openapi-generator's Python client took any value). The
    // operations' descriptions say what they mean.
    #[oai(rename = "type")]
    kind: DocumentType,
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
        let boundary = req
            .header(http::header::CONTENT_TYPE)
            .and_then(|t| multer::parse_boundary(t).ok())
            .ok_or_else(|| Error::bad_request(None, "a multipart body needs a boundary"))?;
        let framed = Framed::new(body.take()?.into_bytes_stream(), &boundary, MAX_PART_HEADER);
        let limits = multer::SizeLimit::new()
            .for_field("type", MAX_CHOICE)
            .for_field("visibility", MAX_CHOICE);
        let constraints = multer::Constraints::new().size_limit(limits);
        let mut multipart = multer::Multipart::with_constraints(framed, boundary, constraints);
        let (mut file, mut kind, mut visibility) = (None, None, None);
        while let Some(field) = multipart.next_field().await.map_err(refused)? {
            let name = field.name().unwrap_or_default().to_owned();
            match name.as_str() {
                "file" if file.is_none() => {
                    let declared = field.content_type().map(ToString::to_string);
                    let filename = field.file_name().map(str::to_owned);
                    let bytes = field.map(|chunk| chunk.map_err(refused));
                    let spooled =
                        spool(bytes, &config.spool_dir(), config.documents_max_bytes).await?;
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

/// The longest a part's header block (or the preamble) may be. A browser's or a client
/// library's is a `Content-Disposition` and a `Content-Type`: a few hundred bytes.
const MAX_PART_HEADER: usize = 8 * 1024;

/// The longest `type` or `visibility`: longer than any of their values.
const MAX_CHOICE: u64 = 32;

/// A small field naming one of an enum's values, exactly (read whole, at most `MAX_CHOICE`
/// bytes).
async fn choice<T: DeserializeOwned>(
    name: &str,
    field: impl Stream<Item = Result<Bytes, multer::Error>> + Unpin,
) -> Result<T, Error> {
    let mut text = Vec::new();
    let mut field = field;
    while let Some(chunk) = field.next().await {
        match chunk {
            Ok(chunk) => text.extend_from_slice(&chunk),
            Err(multer::Error::FieldSizeExceeded { .. }) => {
                return Err(Error::validation(
                    name,
                    format!("longer than any of its values ({MAX_CHOICE} bytes)"),
                ));
            }
            Err(e) => return Err(refused(e)),
        }
    }
    let text = String::from_utf8(text).map_err(|_| Error::validation(name, "not UTF-8 text"))?;
    serde_json::from_value(serde_json::Value::String(text))
        .map_err(|e| Error::validation(name, e.to_string()))
}

/// What a multipart body that multer could not read gets: the framing cap, a body cut off, or
/// a malformed body, each a 400.
fn refused(e: multer::Error) -> Error {
    let detail = match &e {
        multer::Error::StreamReadFailed(cause)
            if cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<FramingTooLarge>()) =>
        {
            format!(
                "malformed multipart body: a part's header block (or the preamble) is longer than {MAX_PART_HEADER} bytes"
            )
        }
        multer::Error::StreamReadFailed(cause) => format!("the upload was cut off: {cause}"),
        other => format!("malformed multipart body: {other}"),
    };
    Error::bad_request(None, detail)
}
