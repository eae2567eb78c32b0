//! The local disk (`FILESYSTEM_DISK=local`, the embedded default): objects under
//! `DATA_DIR/documents/{private|public}/{key}`, each written to a `.part` file and renamed into
//! place, so a reader never sees half an object. Storage classes and SSE have no meaning here.
//!
//! Like Laravel's local disk, it serves its own objects at `/storage/{private|public}/{key}`:
//! public ones to anyone, private ones to a URL signed with APP_KEY that has not expired (the
//! stand-in for S3's presigned URLs).

use std::{
    io::ErrorKind,
    path::{Path, PathBuf},
    time::Duration,
};

use bytes::BytesMut;
use futures::StreamExt;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use tokio::io::AsyncReadExt;

use super::{Bucket, Fetched, Put, StoreError, key::ObjectKey};

pub struct LocalDisk {
    root: PathBuf,
    key: SecretString,
}

impl LocalDisk {
    pub fn new(data_dir: &Path, key: SecretString) -> LocalDisk {
        LocalDisk {
            root: data_dir.join("documents"),
            key,
        }
    }

    fn path(&self, bucket: Bucket, key: &ObjectKey) -> PathBuf {
        self.root.join(bucket.as_str()).join(key.as_str())
    }

    pub async fn put(&self, put: &Put<'_>) -> Result<(), StoreError> {
        let path = self.path(put.bucket, put.key);
        let part = path.with_extension("part");
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(down)?;
        }
        tokio::fs::copy(put.path, &part).await.map_err(down)?;
        // On disk before its row says `stored`, as S3 has it before it answers.
        let file = tokio::fs::File::open(&part).await.map_err(down)?;
        file.sync_all().await.map_err(down)?;
        tokio::fs::rename(&part, &path).await.map_err(down)
    }

    pub async fn get(&self, bucket: Bucket, key: &ObjectKey) -> Result<Fetched, StoreError> {
        let file = match tokio::fs::File::open(self.path(bucket, key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Fetched::Missing),
            Err(e) => return Err(down(e)),
        };
        let length = file.metadata().await.map_err(down)?.len();
        let stream = futures::stream::unfold(file, |mut file| async move {
            let mut buf = BytesMut::with_capacity(64 * 1024);
            match file.read_buf(&mut buf).await {
                Ok(0) => None,
                Ok(_) => Some((Ok(buf.freeze()), file)),
                Err(e) => Some((Err(e), file)),
            }
        })
        .boxed();
        Ok(Fetched::Body { stream, length })
    }

    pub async fn delete(&self, bucket: Bucket, key: &ObjectKey) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path(bucket, key)).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(down(e)),
            _ => Ok(()),
        }
    }

    /// `/storage/private/{key}?expires={unix seconds}&signature={hex}`, valid for `ttl`.
    pub fn presign(&self, app_url: &str, key: &ObjectKey, ttl: Duration) -> String {
        let expires = chrono::Utc::now().timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(0);
        let signature = hex::encode(self.mac(key, expires).finalize().into_bytes());
        format!("{app_url}/storage/private/{key}?expires={expires}&signature={signature}")
    }

    /// Whether a signed URL's parts are genuine and not expired.
    pub fn verify(&self, key: &ObjectKey, expires: i64, signature: &str) -> bool {
        let Ok(signature) = hex::decode(signature) else {
            return false;
        };
        expires >= chrono::Utc::now().timestamp()
            && self.mac(key, expires).verify_slice(&signature).is_ok()
    }

    fn mac(&self, key: &ObjectKey, expires: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(format!("{key}\n{expires}").as_bytes());
        mac
    }
}

fn down(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("local disk: {e}"))
}
