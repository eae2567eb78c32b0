//! Documents: upload for a policy or a claim, list, metadata, download, delete. The bytes pass
//! through the service as a stream (or the client fetches them itself by a short-lived signed
//! URL, `?redirect=true`); no request ever names an object key.

use std::sync::Arc;

use poem::{Body, IntoResponse, Response, http::StatusCode};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
    registry::{
        MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
    },
    types::Type,
};

use super::{
    ApiTags, Created,
    errors::{CONFLICT, NOT_FOUND, Problems, UPLOAD},
    page,
    upload::UploadForm,
};
use crate::{
    api::ctx::TenantCtx,
    domain::{document::Document, filename, scalars::Id},
    platform::documents::content::ContentType,
    services::{
        self,
        documents::{Download, NewDocument},
    },
    state::AppState,
    store::documents::Owner,
};

pub struct DocumentsApi;

#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted: gone from every list at once (its bytes are removed now, or by the sweep if the
    /// store is down).
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Documents")]
impl DocumentsApi {
    /// Upload a document for a policy
    ///
    /// A `multipart/form-data` form: `file`, `type` (what the document is), and `visibility`
    /// (`private` unless `public` is given). Its storage class follows the type
    /// (`archived_policy` goes to GLACIER, so a download must first restore it).
    #[oai(
        path = "/policies/:id/documents",
        method = "post",
        operation_id = "uploadPolicyDocument"
    )]
    async fn upload_for_policy(
        &self,
        ctx: TenantCtx,
        state: poem::web::Data<&Arc<AppState>>,
        #[doc = "The policy's id."] id: Path<Id>,
        form: UploadForm,
    ) -> Result<Created<Document>, Problems<{ NOT_FOUND | UPLOAD }>> {
        upload(&ctx, &state, (Owner::Policy, id.as_str()), form).await
    }

    /// Upload a document for a claim (a photo of the loss, say)
    ///
    /// The form of a policy's upload: `file`, `type` (a `claim_photo` must be an image), and
    /// `visibility` (`private` unless `public` is given).
    #[oai(
        path = "/claims/:id/documents",
        method = "post",
        operation_id = "uploadClaimDocument"
    )]
    async fn upload_for_claim(
        &self,
        ctx: TenantCtx,
        state: poem::web::Data<&Arc<AppState>>,
        #[doc = "The claim's id."] id: Path<Id>,
        form: UploadForm,
    ) -> Result<Created<Document>, Problems<{ NOT_FOUND | UPLOAD }>> {
        upload(&ctx, &state, (Owner::Claim, id.as_str()), form).await
    }

    /// List a policy's documents (its claims' included), newest first
    #[oai(
        path = "/policies/:id/documents",
        method = "get",
        operation_id = "listPolicyDocuments"
    )]
    async fn list_for_policy(
        &self,
        ctx: TenantCtx,
        state: poem::web::Data<&Arc<AppState>>,
        #[doc = "The policy's id."] id: Path<Id>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<Id>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<page::PageOf<Document>>, Problems<{ NOT_FOUND }>> {
        let page = page::request(cursor.0, limit.0);
        let owner = (Owner::Policy, id.as_str());
        let found =
            services::documents::list(&state.documents, &ctx.db, &ctx.tenant.id, owner, &page);
        Ok(Json(found.await?.into()))
    }

    /// List a claim's documents, newest first
    #[oai(
        path = "/claims/:id/documents",
        method = "get",
        operation_id = "listClaimDocuments"
    )]
    async fn list_for_claim(
        &self,
        ctx: TenantCtx,
        state: poem::web::Data<&Arc<AppState>>,
        #[doc = "The claim's id."] id: Path<Id>,
        /// From `next_cursor` of the previous page.
        cursor: Query<Option<Id>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<page::PageOf<Document>>, Problems<{ NOT_FOUND }>> {
        let page = page::request(cursor.0, limit.0);
        let owner = (Owner::Claim, id.as_str());
        let found =
            services::documents::list(&state.documents, &ctx.db, &ctx.tenant.id, owner, &page);
        Ok(Json(found.await?.into()))
    }

    /// Get a document's metadata
    #[oai(path = "/documents/:id", method = "get", operation_id = "getDocument")]
    async fn get(
        &self,
        ctx: TenantCtx,
        state: poem::web::Data<&Arc<AppState>>,
        #[doc = "The document's id."] id: Path<Id>,
    ) -> Result<Json<Document>, Problems<{ NOT_FOUND }>> {
        let found =
            services::documents::get(&state.documents, &ctx.db, &ctx.tenant.id, id.as_str());
        Ok(Json(found.await?))
    }

    /// Download a document
    ///
    /// The bytes stream through the service, checked against the document's SHA-256 (given in
    /// `Repr-Digest`): if they changed in storage, the body is cut short of its
    /// `Content-Length`. With `redirect=true` the answer is a 307 to a URL the client fetches
    /// itself: signed and short-lived (DOCUMENTS_URL_TTL_SECS) for a private document, the
    /// public (CDN) URL for a public one. An archived document (GLACIER) is 409
    /// `document_archived` until the restore this request starts has finished.
    #[oai(
        path = "/documents/:id/content",
        method = "get",
        operation_id = "downloadDocument"
    )]
    async fn download(
        &self,
        ctx: TenantCtx,
        state: poem::web::Data<&Arc<AppState>>,
        #[doc = "The document's id."] id: Path<Id>,
        /// Answer 307 to a URL to fetch instead of the bytes.
        redirect: Query<Option<bool>>,
    ) -> Result<Content, Problems<{ NOT_FOUND | CONFLICT }>> {
        let (docs, tenant) = (&state.documents, &ctx.tenant.id);
        if redirect.0.unwrap_or(false) {
            let url = services::documents::link(docs, &ctx.db, tenant, id.as_str()).await?;
            return Ok(Content::Redirect(url));
        }
        let download = services::documents::download(docs, &ctx.db, tenant, id.as_str()).await?;
        Ok(Content::Bytes(download))
    }

    /// Delete a document
    #[oai(
        path = "/documents/:id",
        method = "delete",
        operation_id = "deleteDocument"
    )]
    async fn delete(
        &self,
        ctx: TenantCtx,
        state: poem::web::Data<&Arc<AppState>>,
        #[doc = "The document's id."] id: Path<Id>,
    ) -> Result<Deleted, Problems<{ NOT_FOUND }>> {
        services::documents::delete(&state.documents, &ctx.db, &ctx.tenant.id, id.as_str()).await?;
        Ok(Deleted::Deleted)
    }
}

async fn upload<const S: u16>(
    ctx: &TenantCtx,
    state: &Arc<AppState>,
    owner: (Owner, &str),
    form: UploadForm,
) -> Result<Created<Document>, Problems<S>> {
    let new = NewDocument {
        file: form.file,
        declared: form.declared,
        filename: form.filename,
        kind: form.kind,
        visibility: form.visibility,
    };
    let document =
        services::documents::upload(&state.documents, &ctx.db, &ctx.tenant.id, owner, new).await?;
    Ok(Created::new(document))
}

/// What a download answers: the bytes, or where to fetch them.
pub enum Content {
    Bytes(Download),
    Redirect(String),
}

impl IntoResponse for Content {
    fn into_response(self) -> Response {
        match self {
            Content::Redirect(url) => Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header("Location", url)
                .header("Cache-Control", "no-store")
                .finish(),
            Content::Bytes(d) => {
                let digest = hex::decode(&d.document.sha256)
                    .map(|b| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b))
                    .unwrap_or_default();
                Response::builder()
                    .content_type(d.document.content_type.as_str())
                    .header("Content-Length", d.length)
                    .header("Content-Disposition", disposition(&d.document))
                    .header("Repr-Digest", format!("sha-256=:{digest}:"))
                    .header("Cache-Control", "private, no-store")
                    .header("X-Content-Type-Options", "nosniff")
                    .body(Body::from_bytes_stream(d.body))
            }
        }
    }
}

/// `attachment`, with the name as ASCII and as UTF-8 (RFC 6266). The name was made safe when it
/// was stored (`filename::safe`); made so again here for rows an older release stored.
fn disposition(document: &Document) -> String {
    let content = ContentType::from_mime(&document.content_type);
    let filename = match content {
        Some(content) => filename::safe(Some(&document.filename), content),
        None => document.filename.clone(),
    };
    let filename = filename.as_str();
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

impl ApiResponse for Content {
    fn meta() -> MetaResponses {
        let header = |name: &str, description: &str| MetaHeader {
            name: name.to_owned(),
            description: Some(description.to_owned()),
            required: true,
            deprecated: false,
            schema: String::schema_ref(),
        };
        let binary = || {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                format: Some("binary"),
                ..MetaSchema::new("string")
            }))
        };
        MetaResponses {
            responses: vec![
                MetaResponse {
                    description: "The document's bytes, in its content type.",
                    status: Some(200),
                    status_range: None,
                    content: ContentType::ALL
                        .into_iter()
                        .map(|c| MetaMediaType {
                            content_type: c.mime(),
                            schema: binary(),
                        })
                        .collect(),
                    headers: vec![
                        header(
                            "Repr-Digest",
                            "The bytes' SHA-256 (RFC 9530): `sha-256=:base64:`.",
                        ),
                        header(
                            "Content-Disposition",
                            "`attachment`, with the uploaded file's name.",
                        ),
                    ],
                },
                MetaResponse {
                    description: "With `redirect=true`: fetch the bytes from `Location` (a signed URL valid for DOCUMENTS_URL_TTL_SECS, or the public URL).",
                    status: Some(307),
                    status_range: None,
                    content: vec![],
                    headers: vec![header("Location", "Where to fetch the bytes.")],
                },
            ],
        }
    }

    fn register(_registry: &mut Registry) {}
}
