//! Documents of a policy or a claim: the row in the tenant's database and the object in the
//! store, kept in step (see `documents` for the order that makes a crash harmless).
//!
//! An upload's bytes are checked before anything is written: their type from their magic
//! numbers (the declared type must agree), the document type's rule (a claim photo is an
//! image). The write itself runs in a task of its own, so a client that hangs up mid-write
//! cannot cancel it halfway: the row ends `stored`, or the object and the row are both gone.
//! A download checks the bytes against the SHA-256 stored with the row as they stream, and
//! holds back the last chunk until they match: a client never receives all the bytes of a
//! document that changed in storage.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::{
    domain::{
        document::{Document, DocumentType},
        filename,
        values::new_id,
    },
    platform::db::{Db, now_ms},
    platform::documents::content::{ContentType, StorageClass, Visibility},
    platform::documents::{Bucket, ByteStream, Documents, Fetched, ObjectKey, Put, spool::Spooled},
    platform::error::{Error, Result},
    store::{
        self, Page, PageRequest,
        documents::{Owner, Row},
    },
};

use super::found;

/// What an upload brings, once its file is spooled.
pub struct NewDocument {
    pub file: Spooled,
    /// The file part's Content-Type, if it gave one.
    pub declared: Option<String>,
    /// The file part's name, as sent.
    pub filename: Option<String>,
    pub kind: DocumentType,
    pub visibility: Visibility,
}

/// Checks and stores an upload for a policy or a claim of the tenant.
pub async fn upload(
    docs: &Arc<Documents>,
    db: &Db,
    tenant_id: &str,
    owner: (Owner, &str),
    new: NewDocument,
) -> Result<Document> {
    let content = checked_type(&new)?;
    if new.visibility == Visibility::Public && !docs.has_public_bucket() {
        return Err(Error::validation(
            "visibility",
            "public documents are not enabled here (AWS_PUBLIC_BUCKET is not set)",
        ));
    }
    let policy_id = owner_policy(db, owner).await?;
    let id = new_id();
    let now = now_ms();
    let storage_class = new.kind.storage_class();
    let row = Row {
        filename: filename::safe(new.filename.as_deref(), content),
        kind: new.kind.as_str().to_owned(),
        visibility: new.visibility.as_str().to_owned(),
        content_type: content.mime().to_owned(),
        size_bytes: i64::try_from(new.file.size).unwrap_or(i64::MAX),
        sha256: hex::encode(new.file.sha256),
        storage_class: storage_class.as_str().to_owned(),
        claim_id: matches!(owner.0, Owner::Claim).then(|| owner.1.to_owned()),
        policy_id,
        id,
        created_at: now,
    };
    store::documents::insert_pending(&mut db.conn().await?.sql(), &row).await?;
    let key = ObjectKey::new(tenant_id, &row.id, content);
    let write = {
        let (docs, db, row, tenant_id) =
            (docs.clone(), db.clone(), row.clone(), tenant_id.to_owned());
        // In the request's span, so the store's calls stay in its trace.
        let written =
            async move { write(&docs, &db, &row, &tenant_id, &key, storage_class, new.file).await };
        tokio::spawn(written.instrument(tracing::Span::current()))
    };
    write
        .await
        .map_err(|e| Error::Internal(format!("the upload's write stopped: {e}")))??;
    present(docs, tenant_id, row)
}

/// The bytes' own type, which the declared one must not contradict.
fn checked_type(new: &NewDocument) -> Result<ContentType> {
    let content = new
        .file
        .sniffed
        .ok_or_else(|| Error::UnsupportedMediaType {
            field: "file".into(),
            detail: format!(
                "the file is not one of the accepted types ({})",
                ContentType::ALL.map(ContentType::mime).join(", ")
            ),
        })?;
    if let Some(declared) = new.declared.as_deref().filter(|d| {
        let essence = d.split(';').next().unwrap_or_default().trim();
        !essence.eq_ignore_ascii_case("application/octet-stream")
    }) && ContentType::from_mime(declared) != Some(content)
    {
        return Err(Error::validation(
            "file",
            format!(
                "declared as {declared}, but its bytes are {}",
                content.mime()
            ),
        ));
    }
    new.kind.accepts(content)?;
    Ok(content)
}

/// The policy a document will belong to: the one named, or the claim's.
async fn owner_policy(db: &Db, (owner, id): (Owner, &str)) -> Result<String> {
    let mut conn = db.conn().await?;
    match owner {
        Owner::Policy => {
            found(store::policies::get(&mut conn.sql(), id).await?, "policy")?;
            Ok(id.to_owned())
        }
        Owner::Claim => {
            Ok(found(store::claims::get(&mut conn.sql(), id).await?, "claim")?.policy_id)
        }
    }
}

/// The object, then the row's `stored`; on any failure, the object and then the row go.
async fn write(
    docs: &Documents,
    db: &Db,
    row: &Row,
    tenant_id: &str,
    key: &ObjectKey,
    storage_class: StorageClass,
    file: Spooled,
) -> Result<()> {
    let bucket = Bucket::of(Visibility::parse_stored(&row.visibility)?);
    let put = Put {
        bucket,
        key,
        path: file.file.path(),
        size: file.size,
        content_type: &row.content_type,
        storage_class,
        sha256: &file.sha256,
        metadata: [
            ("document-id", &row.id),
            ("document-type", &row.kind),
            ("tenant-id", tenant_id),
        ],
        tags: &[("document-type", &row.kind)],
    };
    let stored = match docs.put(&put).await {
        Ok(()) => {
            store::documents::mark(
                &mut db.conn().await?.sql(),
                &row.id,
                "pending",
                "stored",
                now_ms(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match stored {
        Ok(true) => {
            metrics::counter!("documents_bytes_total", "direction" => "up").increment(file.size);
            Ok(())
        }
        Ok(false) => Err(Error::Internal(format!(
            "document {} left pending before it was stored",
            row.id
        ))),
        Err(e) => {
            // Undone in the order that never leaves an object without its row; what cannot be
            // undone now stays `pending` for the sweep.
            if docs.delete(bucket, key).await.is_ok()
                && let Ok(mut conn) = db.conn().await
            {
                store::documents::remove(&mut conn.sql(), &row.id)
                    .await
                    .ok();
            }
            Err(e)
        }
    }
}

pub async fn get(docs: &Documents, db: &Db, tenant_id: &str, id: &str) -> Result<Document> {
    let row = found(
        store::documents::get(&mut db.conn().await?.sql(), id).await?,
        "document",
    )?;
    present(docs, tenant_id, row)
}

pub async fn list(
    docs: &Documents,
    db: &Db,
    tenant_id: &str,
    owner: (Owner, &str),
    page: &PageRequest,
) -> Result<Page<Document>> {
    owner_policy(db, owner).await?;
    let rows = store::documents::list(&mut db.conn().await?.sql(), owner.0, owner.1, page).await?;
    Ok(Page {
        items: rows
            .items
            .into_iter()
            .map(|r| present(docs, tenant_id, r))
            .collect::<Result<_>>()?,
        next: rows.next,
    })
}

/// A document's bytes, checked against its SHA-256 as they stream.
pub struct Download {
    pub document: Document,
    pub length: u64,
    pub body: ByteStream,
}

pub async fn download(docs: &Documents, db: &Db, tenant_id: &str, id: &str) -> Result<Download> {
    let row = found(
        store::documents::get(&mut db.conn().await?.sql(), id).await?,
        "document",
    )?;
    let (key, bucket) = locate(tenant_id, &row)?;
    match docs.get(bucket, &key).await? {
        Fetched::Body { stream, length } => {
            let expected = row.sha256.clone();
            let document = present(docs, tenant_id, row)?;
            Ok(Download {
                body: verified(stream, expected, document.id.clone()),
                document,
                length,
            })
        }
        Fetched::Archived => Err(restoring(docs, &key).await),
        Fetched::Missing => Err(Error::Internal(format!(
            "document {} is stored but its object {key} is missing",
            row.id
        ))),
    }
}

/// Where a client can fetch the bytes itself: a short-lived signed URL, or a public one.
pub async fn link(docs: &Documents, db: &Db, tenant_id: &str, id: &str) -> Result<String> {
    let row = found(
        store::documents::get(&mut db.conn().await?.sql(), id).await?,
        "document",
    )?;
    let (key, bucket) = locate(tenant_id, &row)?;
    if bucket == Bucket::Public {
        return Ok(docs.public_url(&key));
    }
    if row.storage_class == StorageClass::Glacier.as_str() && !docs.readable(&key).await? {
        return Err(restoring(docs, &key).await);
    }
    docs.presign(&key).await
}

/// Starts (or finds under way) the restore of an archived object: the client's answer is 409.
async fn restoring(docs: &Documents, key: &ObjectKey) -> Error {
    if let Err(e) = docs.restore(key).await {
        return e;
    }
    metrics::counter!("documents_restores_total").increment(1);
    tracing::info!(key = %key, "restore of an archived document started by a download");
    Error::conflict(
        "document_archived",
        "the document is archived (GLACIER); its restore has started: try again in a few hours",
    )
}

/// Deletes a document: gone from the API at once; its object is deleted now, or by the sweep.
pub async fn delete(docs: &Documents, db: &Db, tenant_id: &str, id: &str) -> Result<()> {
    let row = found(
        store::documents::get(&mut db.conn().await?.sql(), id).await?,
        "document",
    )?;
    if !store::documents::mark(
        &mut db.conn().await?.sql(),
        id,
        "stored",
        "deleting",
        now_ms(),
    )
    .await?
    {
        return Err(Error::NotFound("document"));
    }
    let (key, bucket) = locate(tenant_id, &row)?;
    match docs.delete(bucket, &key).await {
        Ok(()) => store::documents::remove(&mut db.conn().await?.sql(), id).await,
        Err(e) => {
            tracing::warn!(document_id = id, error = %e, "deleted document's object left to the sweep");
            Ok(())
        }
    }
}

/// Cleans up after uploads and deletes that did not finish (crash, store outage): their objects,
/// then their rows. Returns how many it cleaned.
pub async fn sweep(docs: &Documents, db: &Db, tenant_id: &str) -> Result<usize> {
    let stale = i64::try_from(docs.config.stale.as_millis()).unwrap_or(i64::MAX);
    let now = now_ms();
    let rows =
        store::documents::unfinished(&mut db.conn().await?.sql(), now - stale, now - 60_000, 500)
            .await?;
    let mut cleaned = 0;
    for row in rows {
        let (key, bucket) = locate(tenant_id, &row)?;
        docs.delete(bucket, &key).await?;
        store::documents::remove(&mut db.conn().await?.sql(), &row.id).await?;
        metrics::counter!("documents_swept_total").increment(1);
        tracing::info!(document_id = %row.id, key = %key, "swept an unfinished upload or delete");
        cleaned += 1;
    }
    Ok(cleaned)
}

/// Moves an ended policy's private documents (its claims' too) to the archive class, each
/// object first, then its row: a crash between the two leaves a row that says less than the
/// object, which the next run (or a download's restore) puts right. Already archived ones are
/// passed over, so running it again is harmless. Public documents stay where their URLs are.
pub async fn archive_policy(
    docs: &Documents,
    db: &Db,
    tenant_id: &str,
    policy_id: &str,
) -> Result<usize> {
    let rows = store::documents::to_archive(&mut db.conn().await?.sql(), policy_id).await?;
    for row in &rows {
        let (key, _) = locate(tenant_id, row)?;
        docs.archive(&key).await?;
        store::documents::archived(&mut db.conn().await?.sql(), &row.id, now_ms()).await?;
        metrics::counter!("documents_archived_total").increment(1);
    }
    Ok(rows.len())
}

fn locate(tenant_id: &str, row: &Row) -> Result<(ObjectKey, Bucket)> {
    let content = ContentType::from_mime(&row.content_type)
        .ok_or_else(|| Error::Internal(format!("stored content type `{}`", row.content_type)))?;
    let bucket = Bucket::of(Visibility::parse_stored(&row.visibility)?);
    Ok((ObjectKey::new(tenant_id, &row.id, content), bucket))
}

fn present(docs: &Documents, tenant_id: &str, row: Row) -> Result<Document> {
    let (key, bucket) = locate(tenant_id, &row)?;
    let mut document = row.into_document()?;
    if bucket == Bucket::Public {
        document.url = Some(docs.public_url(&key));
    }
    Ok(document)
}

/// Passes the bytes on, hashing them, one chunk behind: the last is sent only once the whole
/// hash matches `expected`; otherwise the stream ends in an error and the client gets a body
/// cut short of its Content-Length.
fn verified(stream: ByteStream, expected: String, document_id: String) -> ByteStream {
    struct State {
        inner: ByteStream,
        hasher: Sha256,
        held: Option<Bytes>,
        expected: String,
        document_id: String,
        done: bool,
    }
    let state = State {
        inner: stream,
        hasher: Sha256::new(),
        held: None,
        expected,
        document_id,
        done: false,
    };
    futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            match s.inner.next().await {
                Some(Ok(chunk)) => {
                    s.hasher.update(&chunk);
                    metrics::counter!("documents_bytes_total", "direction" => "down")
                        .increment(chunk.len() as u64);
                    if let Some(previous) = s.held.replace(chunk) {
                        return Some((Ok(previous), s));
                    }
                }
                Some(Err(e)) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
                None => {
                    s.done = true;
                    let actual = hex::encode(std::mem::take(&mut s.hasher).finalize());
                    if actual == s.expected {
                        return s.held.take().map(|last| (Ok(last), s));
                    }
                    metrics::counter!("documents_integrity_failures_total").increment(1);
                    tracing::error!(document_id = %s.document_id, expected = %s.expected, actual = %actual, "a document's bytes do not match its SHA-256: download cut off");
                    return Some((Err(std::io::Error::other("the document's bytes do not match its SHA-256")), s));
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_changed_byte_cuts_the_download_short() {
        let chunks = || {
            futures::stream::iter([
                Ok(Bytes::from_static(b"%PDF-")),
                Ok(Bytes::from_static(b"1.7")),
            ])
            .boxed()
        };
        let good = hex::encode(Sha256::digest(b"%PDF-1.7"));
        let all: Vec<_> = verified(chunks(), good, "d".into()).collect().await;
        assert!(all.iter().all(Result::is_ok) && all.len() == 2);
        let bad = hex::encode(Sha256::digest(b"%PDF-1.6"));
        let all: Vec<_> = verified(chunks(), bad, "d".into()).collect().await;
        assert_eq!(
            all.len(),
            2,
            "the first chunk, then the error instead of the last"
        );
        assert!(all[1].is_err());
    }
}
