//! The buckets' own configuration, for `policy-service documents lifecycle|public-policy`: the
//! private bucket's lifecycle rules and the public bucket's read policy, both kept in the
//! repository (`deploy/s3/`). Each `apply` writes, reads back and compares, so it says what the
//! bucket holds, not what was sent. These are operators' calls: outside the breaker and the
//! request metrics.

use aws_sdk_s3::error::ProvideErrorMetadata;

use super::{Backend, Documents, lifecycle::Lifecycle, s3::sorted};
use crate::platform::error::{Error, Result};

/// What the public policy file writes for the bucket's name.
pub const PUBLIC_BUCKET: &str = "${AWS_PUBLIC_BUCKET}";

impl Documents {
    fn s3(&self) -> Result<&super::s3::S3> {
        match &self.backend {
            Backend::S3(s3) => Ok(s3),
            Backend::Local(_) => Err(Error::Config(
                "the local disk has no bucket configuration: this needs FILESYSTEM_DISK=s3".into(),
            )),
        }
    }

    /// The private bucket's name and its lifecycle rules (none when it has no configuration).
    pub async fn lifecycle(&self) -> Result<(String, Option<Lifecycle>)> {
        let s3 = self.s3()?;
        let got = s3
            .client
            .get_bucket_lifecycle_configuration()
            .bucket(&s3.private)
            .send()
            .await;
        match got {
            Ok(out) => Ok((s3.private.clone(), Some(Lifecycle::from_s3(out.rules())))),
            Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => {
                Ok((s3.private.clone(), None))
            }
            Err(e) => Err(refused("GetBucketLifecycleConfiguration", sorted(e))),
        }
    }

    /// Replaces the private bucket's lifecycle rules with `rules`; the bucket's name.
    pub async fn apply_lifecycle(&self, rules: &Lifecycle) -> Result<String> {
        let s3 = self.s3()?;
        s3.client
            .put_bucket_lifecycle_configuration()
            .bucket(&s3.private)
            .lifecycle_configuration(rules.to_s3().map_err(Error::Config)?)
            .send()
            .await
            .map_err(|e| refused("PutBucketLifecycleConfiguration", sorted(e)))?;
        match self.lifecycle().await? {
            (bucket, Some(held)) if held == *rules => Ok(bucket),
            (bucket, _) => Err(Error::Unavailable(format!(
                "{bucket} took the lifecycle configuration but reads back another"
            ))),
        }
    }

    /// The public bucket's name and its policy document (none when it has none).
    pub async fn public_policy(&self) -> Result<(String, Option<String>)> {
        let s3 = self.s3()?;
        let bucket = s3
            .public
            .clone()
            .ok_or_else(|| Error::Config("AWS_PUBLIC_BUCKET is not set".into()))?;
        let got = s3.client.get_bucket_policy().bucket(&bucket).send().await;
        match got {
            Ok(out) => Ok((bucket, out.policy().map(str::to_owned))),
            Err(e) if e.code() == Some("NoSuchBucketPolicy") => Ok((bucket, None)),
            Err(e) => Err(refused("GetBucketPolicy", sorted(e))),
        }
    }

    /// Sets the public bucket's policy from `template` (PUBLIC_BUCKET replaced by its name).
    pub async fn apply_public_policy(&self, template: &str) -> Result<String> {
        let (bucket, _) = self.public_policy().await?;
        let policy = template.replace(PUBLIC_BUCKET, &bucket);
        let wanted: serde_json::Value = serde_json::from_str(&policy)
            .map_err(|e| Error::Config(format!("the policy is not JSON: {e}")))?;
        let s3 = self.s3()?;
        s3.client
            .put_bucket_policy()
            .bucket(&bucket)
            .policy(&policy)
            .send()
            .await
            .map_err(|e| refused("PutBucketPolicy", sorted(e)))?;
        let held = self.public_policy().await?.1.unwrap_or_default();
        match serde_json::from_str::<serde_json::Value>(&held) {
            Ok(v) if v == wanted => Ok(bucket),
            _ => Err(Error::Unavailable(format!(
                "{bucket} took the policy but reads back another"
            ))),
        }
    }
}

fn refused(operation: &str, e: super::StoreError) -> Error {
    match e {
        super::StoreError::Unavailable(m) => Error::Unavailable(format!("{operation}: {m}")),
        super::StoreError::Refused(m) => Error::Config(format!("{operation}: {m}")),
    }
}
