//! A document kept for a policy or one of its claims: what it is (its type decides its storage
//! class, as the seed's DocumentService does), who may fetch it (private, or public through the
//! CDN), and the content types the service accepts, known by their bytes, never by the name.

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use crate::platform::{
    documents::content::{ContentType, StorageClass, Visibility},
    error::{Error, Result},
};

/// What a document is; it decides the storage class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    /// A policy in force (schedule, certificate): STANDARD.
    ActivePolicy,
    /// A photo of a loss: an image, STANDARD_IA.
    ClaimPhoto,
    /// A policy kept for the record: GLACIER, so a download first restores it (hours on AWS).
    ArchivedPolicy,
    /// Anything else: STANDARD.
    Other,
}

impl DocumentType {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentType::ActivePolicy => "active_policy",
            DocumentType::ClaimPhoto => "claim_photo",
            DocumentType::ArchivedPolicy => "archived_policy",
            DocumentType::Other => "other",
        }
    }

    pub fn parse_stored(s: &str) -> Result<DocumentType> {
        Ok(match s {
            "active_policy" => DocumentType::ActivePolicy,
            "claim_photo" => DocumentType::ClaimPhoto,
            "archived_policy" => DocumentType::ArchivedPolicy,
            "other" => DocumentType::Other,
            other => return Err(Error::Internal(format!("stored document type `{other}`"))),
        })
    }

    /// The seed's `match($document->type)`.
    pub fn storage_class(self) -> StorageClass {
        match self {
            DocumentType::ActivePolicy | DocumentType::Other => StorageClass::Standard,
            DocumentType::ClaimPhoto => StorageClass::StandardIa,
            DocumentType::ArchivedPolicy => StorageClass::Glacier,
        }
    }

    /// A photo must be a picture; the rest may be any accepted type.
    pub fn accepts(self, content: ContentType) -> Result<()> {
        if self == DocumentType::ClaimPhoto && !content.is_image() {
            return Err(Error::validation(
                "type",
                format!("a claim_photo must be an image, not {}", content.mime()),
            ));
        }
        Ok(())
    }
}

/// A stored document, as the API shows it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Document {
    /// Record id (UUID v7).
    pub id: String,
    /// The policy it belongs to (a claim's document belongs to the claim's policy too).
    pub policy_id: String,
    /// The claim it was uploaded for, if any.
    pub claim_id: Option<String>,
    #[oai(rename = "type")]
    pub kind: DocumentType,
    pub visibility: Visibility,
    /// The uploaded file's name, as given (without any folders).
    #[oai(validator(max_length = 255))]
    pub filename: String,
    /// Known from the bytes: application/pdf, image/jpeg, image/png, image/webp, image/heic or
    /// image/tiff.
    pub content_type: String,
    #[oai(validator(minimum(value = "0")))]
    pub size_bytes: i64,
    /// SHA-256 of the bytes, hex: checked on every download.
    #[oai(validator(pattern = "^[0-9a-f]{64}$"))]
    pub sha256: String,
    pub storage_class: StorageClass,
    /// Where anyone can fetch a public document (the CDN in production); absent when private.
    pub url: Option<String>,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_decide_the_type() {
        assert_eq!(ContentType::sniff(b"%PDF-1.7\n"), Some(ContentType::Pdf));
        assert_eq!(
            ContentType::sniff(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]),
            Some(ContentType::Png)
        );
        assert_eq!(ContentType::sniff(b"MZ\x90\x00 an executable"), None);
        assert_eq!(ContentType::sniff(b"plain text"), None);
    }

    #[test]
    fn storage_class_follows_the_seed() {
        assert_eq!(
            DocumentType::ArchivedPolicy.storage_class(),
            StorageClass::Glacier
        );
        assert_eq!(
            DocumentType::ClaimPhoto.storage_class(),
            StorageClass::StandardIa
        );
        assert!(DocumentType::ClaimPhoto.accepts(ContentType::Pdf).is_err());
    }
}
