//! The S3 backend (`FILESYSTEM_DISK=s3`), through `aws-sdk-s3` on the shared AWS configuration
//! (`aws`: the standard credential chain, TLS by rustls).
//! `AWS_ENDPOINT` and `AWS_USE_PATH_STYLE_ENDPOINT` point it at an S3-compatible server.
//!
//! Errors are sorted for the breaker: no answer, a timeout or a 5xx means the store is down
//! (`Unavailable`); any other refusal is ours to fix (`Refused`: credentials, a missing bucket)
//! and does not trip it. A missing object and an archived one are answers, not errors.

use std::time::Duration;

use aws_sdk_s3::{
    Client,
    config::http::HttpResponse,
    error::{ProvideErrorMetadata, SdkError},
    operation::get_object::GetObjectError,
    presigning::PresigningConfig,
    primitives::{ByteStream, Length},
    types::{
        GlacierJobParameters, MetadataDirective, RestoreRequest, ServerSideEncryption,
        StorageClass as S3StorageClass, TaggingDirective, Tier,
    },
};
use base64::Engine;
use futures::StreamExt;

use super::content::StorageClass;
use super::{Bucket, Fetched, Put, StoreError, key::ObjectKey, settings::DocumentsConfig};
use crate::platform::tls::{Pem, Tls};

pub struct S3 {
    pub(super) client: Client,
    pub(super) private: String,
    pub(super) public: Option<String>,
}

impl S3 {
    pub async fn connect(config: &DocumentsConfig, tls: &Tls) -> Result<S3, String> {
        let private = config
            .aws_bucket
            .clone()
            .filter(|b| !b.is_empty())
            .ok_or("FILESYSTEM_DISK=s3 needs AWS_BUCKET")?;
        let ca = Pem::optional("AWS_CA_BUNDLE", config.aws_ca_bundle.as_ref())
            .map_err(|e| e.to_string())?;
        let shared = crate::platform::aws::config(config.region(), tls, ca.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        let mut s3 = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.aws_use_path_style_endpoint);
        if let Some(endpoint) = &config.aws_endpoint {
            s3 = s3.endpoint_url(endpoint);
        }
        Ok(S3 {
            client: Client::from_conf(s3.build()),
            private,
            public: config.aws_public_bucket.clone().filter(|b| !b.is_empty()),
        })
    }

    pub fn bucket(&self, bucket: Bucket) -> Option<&str> {
        match bucket {
            Bucket::Private => Some(&self.private),
            Bucket::Public => self.public.as_deref(),
        }
    }

    fn name(&self, bucket: Bucket) -> Result<&str, StoreError> {
        self.bucket(bucket)
            .ok_or_else(|| StoreError::Refused("AWS_PUBLIC_BUCKET is not set".into()))
    }

    /// The seed's `putFileAs`: storage class, metadata, and for the private bucket SSE AES256.
    /// The SHA-256 goes with it, so S3 refuses bytes that changed on the way.
    pub async fn put(&self, put: &Put<'_>) -> Result<(), StoreError> {
        let body = ByteStream::read_from()
            .path(put.path)
            .length(Length::Exact(put.size))
            .build()
            .await
            .map_err(|e| StoreError::Refused(format!("cannot read the spooled upload: {e}")))?;
        let mut request = self
            .client
            .put_object()
            .bucket(self.name(put.bucket)?)
            .key(put.key.as_str())
            .body(body)
            .content_length(i64::try_from(put.size).unwrap_or(i64::MAX))
            .content_type(put.content_type)
            .storage_class(storage_class(put.storage_class))
            .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(put.sha256));
        for (name, value) in put.metadata {
            request = request.metadata(name, value);
        }
        // Tags, unlike metadata, are what lifecycle rules can filter on.
        if !put.tags.is_empty() {
            let tags = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(put.tags.iter())
                .finish();
            request = request.tagging(tags);
        }
        if put.bucket == Bucket::Private {
            request = request.server_side_encryption(ServerSideEncryption::Aes256);
        }
        request.send().await.map(drop).map_err(sorted)
    }

    pub async fn get(&self, bucket: Bucket, key: &ObjectKey) -> Result<Fetched, StoreError> {
        let sent = self
            .client
            .get_object()
            .bucket(self.name(bucket)?)
            .key(key.as_str())
            .send()
            .await;
        match sent {
            Ok(out) => {
                let length = out
                    .content_length()
                    .and_then(|l| u64::try_from(l).ok())
                    .unwrap_or_default();
                let stream = futures::stream::unfold(out.body, |mut body| async move {
                    body.next()
                        .await
                        .map(|chunk| (chunk.map_err(std::io::Error::other), body))
                })
                .boxed();
                Ok(Fetched::Body { stream, length })
            }
            Err(SdkError::ServiceError(e)) if matches!(e.err(), GetObjectError::NoSuchKey(_)) => {
                Ok(Fetched::Missing)
            }
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), GetObjectError::InvalidObjectState(_)) =>
            {
                Ok(Fetched::Archived)
            }
            Err(e) => Err(sorted(e)),
        }
    }

    pub async fn delete(&self, bucket: Bucket, key: &ObjectKey) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(self.name(bucket)?)
            .key(key.as_str())
            .send()
            .await
            .map(drop)
            .map_err(sorted)
    }

    /// Whether an archived object can be read now: restored, not still restoring.
    pub async fn restored(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.private)
            .key(key.as_str())
            .send()
            .await
            .map_err(sorted)?;
        let archived = matches!(
            head.storage_class(),
            Some(S3StorageClass::Glacier | S3StorageClass::DeepArchive)
        );
        Ok(!archived
            || head
                .restore()
                .is_some_and(|r| r.contains("ongoing-request=\"false\"")))
    }

    /// Asks for a temporary copy of an archived object for `days`; one already under way is fine.
    pub async fn restore(&self, key: &ObjectKey, days: i32) -> Result<(), StoreError> {
        let job = GlacierJobParameters::builder()
            .tier(Tier::Standard)
            .build()
            .map_err(|e| StoreError::Refused(e.to_string()))?;
        let sent = self
            .client
            .restore_object()
            .bucket(&self.private)
            .key(key.as_str())
            .restore_request(
                RestoreRequest::builder()
                    .days(days)
                    .glacier_job_parameters(job)
                    .build(),
            )
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if e.err().code() == Some("RestoreAlreadyInProgress") =>
            {
                Ok(())
            }
            Err(e) => Err(sorted(e)),
        }
    }

    /// Moves a private object to GLACIER where it is: a copy onto itself in the new class, its
    /// metadata, tags and encryption kept. A restore reads it back as any archived object.
    pub async fn archive(&self, key: &ObjectKey) -> Result<(), StoreError> {
        self.client
            .copy_object()
            .bucket(&self.private)
            .key(key.as_str())
            .copy_source(format!("{}/{}", self.private, key.as_str()))
            .storage_class(S3StorageClass::Glacier)
            .metadata_directive(MetadataDirective::Copy)
            .tagging_directive(TaggingDirective::Copy)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .map(drop)
            .map_err(sorted)
    }

    /// A GET URL for the private object, signed for `ttl`.
    pub async fn presign(&self, key: &ObjectKey, ttl: Duration) -> Result<String, StoreError> {
        let config =
            PresigningConfig::expires_in(ttl).map_err(|e| StoreError::Refused(e.to_string()))?;
        self.client
            .get_object()
            .bucket(&self.private)
            .key(key.as_str())
            .presigned(config)
            .await
            .map(|r| r.uri().to_owned())
            .map_err(sorted)
    }
}

fn storage_class(class: StorageClass) -> S3StorageClass {
    match class {
        StorageClass::Standard => S3StorageClass::Standard,
        StorageClass::StandardIa => S3StorageClass::StandardIa,
        StorageClass::Glacier => S3StorageClass::Glacier,
    }
}

/// Down (no answer, a timeout, a 5xx) or refused (any other answer).
pub(super) fn sorted<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: SdkError<E, HttpResponse>,
) -> StoreError {
    let shown = aws_sdk_s3::error::DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ServiceError(e) if e.raw().status().as_u16() < 500 => StoreError::Refused(shown),
        SdkError::ServiceError(_)
        | SdkError::ResponseError(_)
        | SdkError::TimeoutError(_)
        | SdkError::DispatchFailure(_) => StoreError::Unavailable(shown),
        _ => StoreError::Refused(shown),
    }
}
