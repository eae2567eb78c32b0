//! An uploaded file on its way in: streamed to a temporary file while its SHA-256 and size are
//! counted, never held in memory. S3 needs the length before the first byte (a multipart
//! request does not give it per part), and the bytes must be checked (type, size) before
//! anything is stored; a temporary file gives both. It is deleted when dropped, so an upload
//! that fails or is cut off leaves nothing.

use std::path::Path;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio::io::AsyncWriteExt;

use super::content::ContentType;
use crate::platform::error::Error;

/// Bytes read to know a file's type: more than any magic number needs.
const HEAD: usize = 512;

pub struct Spooled {
    pub file: NamedTempFile,
    pub size: u64,
    pub sha256: [u8; 32],
    /// What the bytes are, if one of the accepted types.
    pub sniffed: Option<ContentType>,
}

/// Copies `body` into a temporary file in `dir`; more than `limit` bytes is 413.
pub async fn spool(
    mut body: impl Stream<Item = Result<Bytes, Error>> + Unpin,
    dir: &Path,
    limit: u64,
) -> Result<Spooled, Error> {
    let file = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(dir)
        .map_err(|e| {
            Error::Internal(format!(
                "cannot create a spool file in {}: {e}",
                dir.display()
            ))
        })?;
    let mut out = tokio::fs::File::from_std(file.reopen()?);
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(HEAD);
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(Error::PayloadTooLarge(
                usize::try_from(limit).unwrap_or(usize::MAX),
            ));
        }
        if head.len() < HEAD {
            head.extend_from_slice(&chunk[..chunk.len().min(HEAD - head.len())]);
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await?;
    }
    // Not synced: a spool file does not outlive its request, so a crash loses nothing it held.
    out.flush().await?;
    Ok(Spooled {
        file,
        size,
        sha256: hasher.finalize().into(),
        sniffed: ContentType::sniff(&head),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_counts_and_refuses_beyond_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = b"%PDF-1.7\nhello".to_vec();
        let stream = || futures::stream::iter([Ok(Bytes::from(body.clone()))]);
        let s = spool(stream(), dir.path(), 100).await.expect("spooled");
        assert_eq!(s.size, body.len() as u64);
        assert_eq!(s.sniffed, Some(ContentType::Pdf));
        assert_eq!(s.sha256, <[u8; 32]>::from(Sha256::digest(&body)));
        let path = s.file.path().to_owned();
        drop(s);
        assert!(!path.exists(), "dropped: deleted");
        let e = spool(stream(), dir.path(), 5).await.err();
        assert!(matches!(e, Some(Error::PayloadTooLarge(5))));
        assert_eq!(
            std::fs::read_dir(dir.path()).map(|d| d.count()).ok(),
            Some(0)
        );
    }
}
