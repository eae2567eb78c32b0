//! What the object store knows of a file: who may fetch it (its bucket), its S3 storage class,
//! and its content type, known by its bytes, never by its name.

use poem_openapi::Enum;
use serde::{Deserialize, Serialize};

use crate::platform::error::{Error, Result};

/// Who may fetch a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// In the private bucket, encrypted at rest (SSE AES256): through the API or a short-lived
    /// signed URL only.
    #[default]
    Private,
    /// In the public bucket: anyone with its `url` (the CDN's in production).
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Public => "public",
        }
    }

    pub fn parse_stored(s: &str) -> Result<Visibility> {
        match s {
            "private" => Ok(Visibility::Private),
            "public" => Ok(Visibility::Public),
            other => Err(Error::Internal(format!("stored visibility `{other}`"))),
        }
    }
}

/// S3's storage classes the document types use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    Standard,
    StandardIa,
    Glacier,
}

impl StorageClass {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::StandardIa => "STANDARD_IA",
            StorageClass::Glacier => "GLACIER",
        }
    }
}

/// A content type the service accepts, as its bytes show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Pdf,
    Jpeg,
    Png,
    Webp,
    Heic,
    Tiff,
}

impl ContentType {
    pub const ALL: [ContentType; 6] = [
        ContentType::Pdf,
        ContentType::Jpeg,
        ContentType::Png,
        ContentType::Webp,
        ContentType::Heic,
        ContentType::Tiff,
    ];

    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Pdf => "application/pdf",
            ContentType::Jpeg => "image/jpeg",
            ContentType::Png => "image/png",
            ContentType::Webp => "image/webp",
            ContentType::Heic => "image/heic",
            ContentType::Tiff => "image/tiff",
        }
    }

    /// The extension of its object key (`{id}.{ext}`).
    pub fn extension(self) -> &'static str {
        match self {
            ContentType::Pdf => "pdf",
            ContentType::Jpeg => "jpg",
            ContentType::Png => "png",
            ContentType::Webp => "webp",
            ContentType::Heic => "heic",
            ContentType::Tiff => "tiff",
        }
    }

    pub fn is_image(self) -> bool {
        self != ContentType::Pdf
    }

    pub fn from_mime(mime: &str) -> Option<ContentType> {
        let essence = mime.split(';').next()?.trim().to_ascii_lowercase();
        let essence = match essence.as_str() {
            "image/jpg" | "image/pjpeg" => "image/jpeg",
            "image/heif" => "image/heic",
            other => other,
        };
        ContentType::ALL.into_iter().find(|c| c.mime() == essence)
    }

    pub fn from_extension(ext: &str) -> Option<ContentType> {
        ContentType::ALL.into_iter().find(|c| c.extension() == ext)
    }

    /// What the first bytes of a file are (magic numbers), if it is one of ours.
    pub fn sniff(head: &[u8]) -> Option<ContentType> {
        infer::get(head).and_then(|t| ContentType::from_mime(t.mime_type()))
    }
}
