//! Where documents' bytes live: the seed's `s3` (private, SSE AES256) and `s3-public` disks, or
//! the local disk by default, behind one `Documents` store.
//!
//! **Keys** (`key`): `tenant/{tenant_id}/documents/{document_id}.{ext}` in either bucket, built
//! only from the caller's tenant id and an id the service generated; the extension comes from
//! the content type the bytes showed. Objects carry the seed's metadata (`document-id`,
//! `document-type`, `tenant-id`) and their type's storage class: `active_policy` and `other`
//! STANDARD, `claim_photo` STANDARD_IA, `archived_policy` GLACIER; the type is a tag too, for
//! the bucket's lifecycle rules (`lifecycle`, applied by `admin`), and `archive` moves an object
//! to GLACIER later (its owner's term ended).
//!
//! **No half-writes.** A document's row is written (`pending`) before its object and removed
//! after it (`deleting` first), so an object never exists without a row that leads to it. A
//! crash between the two leaves a row that is not `stored`: the documents sweep (a job per
//! tenant, every DOCUMENTS_SWEEP_SECS and at start) deletes its object and then the row.
//!
//! **Failures.** Every call is a client span (`S3 PutObject`, …) with its duration and errors in
//! metrics. A store that does not answer trips a breaker (DOCUMENTS_BREAKER_FAILURES in a row,
//! open DOCUMENTS_BREAKER_OPEN_SECS, then one probe): requests then get 503 at once instead of waiting on timeouts. An archived
//! object is not an error: a download starts its restore and answers 409 `document_archived`.

mod admin;
pub mod content;
mod key;
pub mod lifecycle;
mod local;
mod s3;
pub mod settings;
pub mod spool;

use std::{path::Path, pin::Pin};

use bytes::Bytes;
use futures::{FutureExt, Stream, future::BoxFuture};
use secrecy::SecretString;
use tracing::{Instrument, field::Empty};

pub use key::ObjectKey;
use settings::{Disk, DocumentsConfig};

use crate::platform::{
    breaker::Breaker,
    error::{Error, Result},
    tls::Tls,
};
use content::{StorageClass, Visibility};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Private,
    Public,
}

impl Bucket {
    pub fn of(visibility: Visibility) -> Bucket {
        match visibility {
            Visibility::Private => Bucket::Private,
            Visibility::Public => Bucket::Public,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Private => "private",
            Bucket::Public => "public",
        }
    }
}

/// One object to write, from a spooled file.
pub struct Put<'a> {
    pub bucket: Bucket,
    pub key: &'a ObjectKey,
    pub path: &'a Path,
    pub size: u64,
    pub content_type: &'a str,
    pub storage_class: StorageClass,
    pub sha256: &'a [u8; 32],
    pub metadata: [(&'static str, &'a str); 3],
    /// Object tags (S3), which lifecycle rules filter on (`lifecycle`).
    pub tags: &'a [(&'static str, &'a str)],
}

pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// What a read found.
pub enum Fetched {
    Body {
        stream: ByteStream,
        length: u64,
    },
    /// In GLACIER and not restored: unreadable until a restore completes.
    Archived,
    Missing,
}

/// How a backend call failed.
#[derive(Debug)]
pub enum StoreError {
    /// No answer, a timeout, a 5xx: the store is down (trips the breaker).
    Unavailable(String),
    /// The store answered no (credentials, a missing bucket): ours to fix.
    Refused(String),
}

enum Backend {
    Local(local::LocalDisk),
    S3(s3::S3),
}

impl Backend {
    /// The `store` label of its metrics.
    fn name(&self) -> &'static str {
        match self {
            Backend::Local(_) => "local",
            Backend::S3(_) => "s3",
        }
    }
}

pub struct Documents {
    backend: Backend,
    breaker: Breaker,
    pub config: DocumentsConfig,
    /// Base of the service's own URLs (APP_URL).
    app_url: String,
    /// Base of public URLs when the CDN serves them (production with CDN_BASE_URL).
    cdn: Option<String>,
}

impl Documents {
    /// Connects the configured backend (S3 under the TLS policy `tls`); `url_key` signs the
    /// local disk's URLs.
    pub async fn open(
        config: &DocumentsConfig,
        tls: &Tls,
        data_dir: &Path,
        app_url: &str,
        cdn: Option<&str>,
        url_key: SecretString,
    ) -> Result<Documents> {
        let backend = match config.filesystem_disk {
            Disk::Local => Backend::Local(local::LocalDisk::new(data_dir, url_key)),
            Disk::S3 => Backend::S3(s3::S3::connect(config, tls).await.map_err(Error::Config)?),
        };
        describe(backend.name());
        crate::platform::breaker::describe();
        Ok(Documents {
            backend,
            breaker: Breaker::new(
                "object_store",
                config.documents_breaker_failures,
                config.breaker_open,
            ),
            config: config.clone(),
            app_url: app_url.trim_end_matches('/').to_owned(),
            cdn: cdn.map(|c| c.trim_end_matches('/').to_owned()),
        })
    }

    /// Whether public documents can be stored (S3 needs AWS_PUBLIC_BUCKET).
    pub fn has_public_bucket(&self) -> bool {
        match &self.backend {
            Backend::Local(_) => true,
            Backend::S3(s3) => s3.bucket(Bucket::Public).is_some(),
        }
    }

    /// Where anyone can fetch a public object: the CDN in production (the seed's AssetService),
    /// else AWS_URL, else the bucket's own URL (S3) or the service's `/storage/public` (local).
    pub fn public_url(&self, key: &ObjectKey) -> String {
        if let Some(cdn) = &self.cdn {
            return format!("{cdn}/{key}");
        }
        match &self.backend {
            Backend::Local(_) => format!("{}/storage/public/{key}", self.app_url),
            Backend::S3(s3) => {
                let bucket = s3.bucket(Bucket::Public).unwrap_or_default();
                match (&self.config.aws_url, &self.config.aws_endpoint) {
                    (Some(base), _) => format!("{}/{key}", base.trim_end_matches('/')),
                    (None, Some(endpoint)) if self.config.aws_use_path_style_endpoint => {
                        format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/'))
                    }
                    _ => format!(
                        "https://{bucket}.s3.{}.amazonaws.com/{key}",
                        self.config.region()
                    ),
                }
            }
        }
    }

    pub async fn put(&self, put: &Put<'_>) -> Result<()> {
        self.call(
            "PutObject",
            put.bucket,
            put.key,
            async {
                match &self.backend {
                    Backend::Local(disk) => disk.put(put).await,
                    Backend::S3(s3) => s3.put(put).await,
                }
            }
            .boxed(),
        )
        .await
    }

    pub async fn get(&self, bucket: Bucket, key: &ObjectKey) -> Result<Fetched> {
        self.call(
            "GetObject",
            bucket,
            key,
            async {
                match &self.backend {
                    Backend::Local(disk) => disk.get(bucket, key).await,
                    Backend::S3(s3) => s3.get(bucket, key).await,
                }
            }
            .boxed(),
        )
        .await
    }

    pub async fn delete(&self, bucket: Bucket, key: &ObjectKey) -> Result<()> {
        self.call(
            "DeleteObject",
            bucket,
            key,
            async {
                match &self.backend {
                    Backend::Local(disk) => disk.delete(bucket, key).await,
                    Backend::S3(s3) => s3.delete(bucket, key).await,
                }
            }
            .boxed(),
        )
        .await
    }

    /// Whether a private object can be read now (an archived one only once restored).
    pub async fn readable(&self, key: &ObjectKey) -> Result<bool> {
        match &self.backend {
            Backend::Local(_) => Ok(true),
            Backend::S3(s3) => {
                self.call("HeadObject", Bucket::Private, key, s3.restored(key).boxed())
                    .await
            }
        }
    }

    /// Moves a private object to the archive class (GLACIER); on the local disk, where every
    /// object is readable at once, only its row says so.
    pub async fn archive(&self, key: &ObjectKey) -> Result<()> {
        match &self.backend {
            Backend::Local(_) => Ok(()),
            Backend::S3(s3) => {
                self.call("CopyObject", Bucket::Private, key, s3.archive(key).boxed())
                    .await
            }
        }
    }

    /// Starts the restore of an archived private object (none is needed on the local disk).
    pub async fn restore(&self, key: &ObjectKey) -> Result<()> {
        match &self.backend {
            Backend::Local(_) => Ok(()),
            Backend::S3(s3) => {
                let days = self.config.documents_restore_days;
                self.call(
                    "RestoreObject",
                    Bucket::Private,
                    key,
                    s3.restore(key, days).boxed(),
                )
                .await
            }
        }
    }

    /// A short-lived URL for a private object (DOCUMENTS_URL_TTL_SECS).
    pub async fn presign(&self, key: &ObjectKey) -> Result<String> {
        let ttl = self.config.url_ttl;
        match &self.backend {
            Backend::Local(disk) => Ok(disk.presign(&self.app_url, key, ttl)),
            Backend::S3(s3) => {
                self.call(
                    "PresignGetObject",
                    Bucket::Private,
                    key,
                    s3.presign(key, ttl).boxed(),
                )
                .await
            }
        }
    }

    /// Whether a local signed URL is genuine and current (always false on S3: its own URLs
    /// are checked by S3).
    pub fn verify_signed(&self, key: &ObjectKey, expires: i64, signature: &str) -> bool {
        match &self.backend {
            Backend::Local(disk) => disk.verify(key, expires, signature),
            Backend::S3(_) => false,
        }
    }

    /// Whether the service serves `/storage/…` itself (the local disk).
    pub fn serves_storage(&self) -> bool {
        matches!(self.backend, Backend::Local(_))
    }

    /// One backend call: its breaker, its client span, its duration and errors. The call comes
    /// boxed: the SDK's futures are such deep types that nesting them unboxed in a request's
    /// or a job's future exceeds the compiler's type depth limit.
    async fn call<T>(
        &self,
        operation: &'static str,
        bucket: Bucket,
        key: &ObjectKey,
        call: BoxFuture<'_, std::result::Result<T, StoreError>>,
    ) -> Result<T> {
        let store = self.backend.name();
        let permit = self.breaker.call().map_err(|open| {
            metrics::counter!("object_store_errors_total", "store" => store, "operation" => operation, "error" => "breaker_open").increment(1);
            Error::CircuitOpen {
                what: "the document store".into(),
                retry_after: open.retry_after,
            }
        })?;
        let span = tracing::info_span!(
            "object_store",
            otel.name = %format_args!("{} {operation}", if store == "s3" { "S3" } else { "LocalDisk" }),
            otel.kind = "client",
            otel.status_code = Empty,
            rpc.system = if store == "s3" { "aws-api" } else { "local" },
            rpc.service = "S3",
            rpc.method = operation,
            aws.s3.bucket = bucket.as_str(),
            aws.s3.key = %key,
            error.type = Empty,
        );
        let started = std::time::Instant::now();
        let result = call.instrument(span.clone()).await;
        metrics::histogram!("object_store_request_duration_seconds", "store" => store, "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        let (kind, message) = match result {
            Ok(value) => {
                permit.succeeded();
                return Ok(value);
            }
            Err(StoreError::Unavailable(m)) => {
                permit.failed();
                ("unavailable", m)
            }
            Err(StoreError::Refused(m)) => {
                // It answered: the store is up, the request is what is wrong.
                permit.succeeded();
                ("refused", m)
            }
        };
        span.record("otel.status_code", "ERROR");
        span.record("error.type", kind);
        metrics::counter!("object_store_errors_total", "store" => store, "operation" => operation, "error" => kind).increment(1);
        tracing::warn!(parent: &span, store, operation, key = %key, error = %message, "object store call failed");
        Err(match kind {
            "unavailable" => {
                Error::Unavailable("the document store is unavailable; retry later".into())
            }
            _ => Error::Internal(format!("the document store refused {operation}: {message}")),
        })
    }
}

fn describe(store: &'static str) {
    metrics::describe_histogram!(
        "object_store_request_duration_seconds",
        metrics::Unit::Seconds,
        "Calls to the object store (S3 or the local disk), by store and operation, to the answer's headers"
    );
    metrics::describe_counter!(
        "object_store_errors_total",
        "Failed object store calls, by store, operation and error (unavailable, refused, breaker_open)"
    );
    metrics::describe_counter!(
        "documents_bytes_total",
        metrics::Unit::Bytes,
        "Document bytes through the service, by direction (up: uploads stored, down: downloads sent)"
    );
    metrics::describe_counter!(
        "documents_integrity_failures_total",
        "Downloads cut off because the bytes did not match the SHA-256 stored at upload"
    );
    metrics::describe_counter!(
        "documents_restores_total",
        "Restores of archived (GLACIER) documents started by a download"
    );
    metrics::describe_counter!(
        "documents_archived_total",
        "Documents moved to the archive class (GLACIER) because their policy ended"
    );
    metrics::describe_counter!(
        "documents_swept_total",
        "Objects and rows of unfinished uploads and deletes cleaned up by the documents sweep"
    );
    // Rare: at 0 from the start, so their panels and rates have a series to show.
    for operation in ["PutObject", "GetObject", "DeleteObject"] {
        for error in ["unavailable", "refused", "breaker_open"] {
            metrics::counter!("object_store_errors_total", "store" => store, "operation" => operation, "error" => error).absolute(0);
        }
    }
    for name in [
        "documents_integrity_failures_total",
        "documents_restores_total",
        "documents_swept_total",
        "documents_archived_total",
    ] {
        metrics::counter!(name).absolute(0);
    }
}
