//! The notes API: poem-openapi operations on the platform's `Caller` (Kong's consumer and its
//! tenant), with the platform's problem+json errors, bounded bodies and documented error sets.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, stream};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi, Tags,
    param::{Path, Query},
    payload::{Binary, Json},
};
use serde::Deserialize;

use crate::notes::{self, CountWords, Note, NoteChannels, NoteKey};
use policy_service::{
    platform::Platform,
    platform::cache::Memo,
    platform::documents::{Bucket, Fetched, ObjectKey, Put, content::StorageClass, spool::spool},
    platform::error::{Error, Result},
    platform::gateway::Caller,
    platform::http::{
        body::JsonBody,
        errors::{BODY, FORM, NOT_FOUND, Problems},
        form::FormBody,
    },
    platform::outbox::RelayOutbox,
    platform::queue::Task,
};

#[derive(Tags)]
pub enum NotesTags {
    /// A tenant's notes.
    Notes,
    /// The private channel of a tenant's notes.
    Broadcasting,
}

/// A new note.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    /// Up to 10,000 characters.
    #[oai(validator(max_length = 10000))]
    pub body: String,
}

/// What pusher-js posts to join a private channel.
#[derive(Debug, Object, Deserialize)]
#[oai(deny_unknown_fields)]
#[serde(deny_unknown_fields)]
pub struct ChannelAuthRequest {
    /// The socket's id (two numbers joined by a dot).
    #[oai(validator(pattern = r"^[0-9]{1,20}\.[0-9]{1,20}$"))]
    pub socket_id: String,
    /// `private-notes.{your tenant's slug}`.
    #[oai(validator(max_length = 164, pattern = r"^private-notes\.[A-Za-z0-9_-]{1,64}$"))]
    pub channel_name: String,
}

/// The signature the socket's `pusher:subscribe` carries as `auth`.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ChannelAuth {
    pub auth: String,
}

#[derive(ApiResponse)]
pub enum Created {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Note>),
}

#[derive(ApiResponse)]
pub enum Stored {
    /// Stored.
    #[oai(status = 204)]
    Stored,
}

pub struct NotesApi;

#[OpenApi(prefix_path = "/v1", tag = "NotesTags::Notes")]
impl NotesApi {
    /// Create a note
    ///
    /// Its `NoteCreated` event is written with it; its words are counted by a job after.
    #[oai(path = "/notes", method = "post", operation_id = "createNote")]
    async fn create(
        &self,
        caller: Caller,
        platform: Data<&Arc<Platform>>,
        body: JsonBody<NewNote>,
    ) -> Result<Created, Problems<{ BODY }>> {
        let NewNote { title, body } = body.0;
        if title.trim().is_empty() || title.chars().count() > 200 {
            return Err(
                Error::validation("title", "must be 1 to 200 characters, not all blank").into(),
            );
        }
        if body.chars().count() > 10_000 {
            return Err(Error::validation("body", "must be at most 10,000 characters").into());
        }
        let note = notes::create(&caller.db, &title, &body).await?;
        let count = CountWords {
            note_id: note.id.clone(),
        };
        let tasks = [Task::of(&RelayOutbox { sweep: false }), Task::of(&count)];
        platform.jobs.dispatch(&caller.tenant.slug, tasks).await;
        Ok(Created::Created(Json(note)))
    }

    /// List notes, newest first
    #[oai(path = "/notes", method = "get", operation_id = "listNotes")]
    async fn list(
        &self,
        caller: Caller,
        /// 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<Vec<Note>>, Problems<0>> {
        Ok(Json(notes::list(&caller.db, limit.0.unwrap_or(20)).await?))
    }

    /// Get a note (read through the cache)
    #[oai(path = "/notes/:id", method = "get", operation_id = "getNote")]
    async fn get(
        &self,
        caller: Caller,
        /// The note's id.
        #[oai(validator(max_length = 36))]
        id: Path<String>,
    ) -> Result<Json<Note>, Problems<{ NOT_FOUND }>> {
        let db = &caller.db;
        let memo = caller
            .cache
            .get_or_load(&NoteKey(&id.0), || async {
                Ok(notes::get(db, &id.0).await?.map(Memo::new))
            })
            .await?
            .ok_or(Error::NotFound("note"))?;
        Ok(Json(memo.value().clone()))
    }

    /// Store a note's attachment (a PDF or an image)
    #[oai(
        path = "/notes/:id/attachment",
        method = "put",
        operation_id = "putNoteAttachment"
    )]
    async fn attach(
        &self,
        caller: Caller,
        platform: Data<&Arc<Platform>>,
        /// The note's id.
        #[oai(validator(max_length = 36))]
        id: Path<String>,
        body: Binary<Vec<u8>>,
    ) -> Result<Stored, Problems<{ NOT_FOUND | BODY }>> {
        let config = &platform.config.documents;
        let bytes = stream::once(async move { Ok(Bytes::from(body.0)) }).boxed();
        let file = spool(bytes, &config.spool_dir(), config.documents_max_bytes).await?;
        let content = file.sniffed.ok_or_else(|| Error::UnsupportedMediaType {
            field: "body".into(),
            detail: "an attachment is a PDF or an image (JPEG, PNG, WebP, HEIC, TIFF)".into(),
        })?;
        if notes::get(&caller.db, &id.0).await?.is_none() {
            return Err(Error::NotFound("note").into());
        }
        let key = ObjectKey::new(&caller.tenant.id, &id.0, content);
        platform
            .documents
            .put(&Put {
                bucket: Bucket::Private,
                key: &key,
                path: file.file.path(),
                size: file.size,
                content_type: content.mime(),
                storage_class: StorageClass::Standard,
                sha256: &file.sha256,
                metadata: [
                    ("document-id", &id.0),
                    ("document-type", "note-attachment"),
                    ("tenant-id", &caller.tenant.id),
                ],
                tags: &[("document-type", "note-attachment")],
            })
            .await?;
        notes::attach(&caller.db, &id.0, key.as_str(), content.mime()).await?;
        caller.cache.forget(&NoteKey(&id.0)).await;
        Ok(Stored::Stored)
    }

    /// Get a note's attachment
    #[oai(
        path = "/notes/:id/attachment",
        method = "get",
        operation_id = "getNoteAttachment"
    )]
    async fn attachment(
        &self,
        caller: Caller,
        platform: Data<&Arc<Platform>>,
        /// The note's id.
        #[oai(validator(max_length = 36))]
        id: Path<String>,
    ) -> Result<Binary<Vec<u8>>, Problems<{ NOT_FOUND }>> {
        let key = notes::attachment(&caller.db, &id.0)
            .await?
            .and_then(|k| ObjectKey::parse(&k))
            .ok_or(Error::NotFound("attachment"))?;
        let Fetched::Body { mut stream, .. } =
            platform.documents.get(Bucket::Private, &key.0).await?
        else {
            return Err(Error::NotFound("attachment").into());
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.map_err(|e| Error::Unavailable(e.to_string()))?);
        }
        Ok(Binary(bytes))
    }
}

pub struct ChannelsApi;

#[OpenApi(tag = "NotesTags::Broadcasting")]
impl ChannelsApi {
    /// Sign a subscription to the tenant's notes channel
    ///
    /// 403 for any channel but `private-notes.{the caller's tenant}`.
    #[oai(
        path = "/broadcasting/auth",
        method = "post",
        operation_id = "authorizeChannel"
    )]
    async fn auth(
        &self,
        caller: Caller,
        platform: Data<&Arc<Platform>>,
        body: FormBody<ChannelAuthRequest>,
    ) -> Result<Json<ChannelAuth>, Problems<{ FORM }>> {
        let ChannelAuthRequest {
            socket_id,
            channel_name,
        } = body.0;
        if channel_name != NoteChannels::of_tenant(&caller.tenant.slug) {
            return Err(Error::Forbidden(format!(
                "{channel_name} is not a channel of tenant {}",
                caller.tenant.slug
            ))
            .into());
        }
        Ok(Json(ChannelAuth {
            auth: platform.signer.sign(&socket_id, &channel_name),
        }))
    }
}
