//! Object keys: `tenant/{tenant_id}/documents/{document_id}.{ext}`, the seed's layout.
//!
//! A key is only ever built here, from the caller's own tenant id and a document id the
//! service generated (and found in that tenant's database): no request names a key, so no
//! tenant can reach another's objects. `parse` exists for the local disk's signed URLs, and
//! takes back only keys of exactly this shape (no `..`, no other folder).

use std::fmt;

use super::content::ContentType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn new(tenant_id: &str, document_id: &str, content: ContentType) -> ObjectKey {
        ObjectKey(format!(
            "tenant/{tenant_id}/documents/{document_id}.{}",
            content.extension()
        ))
    }

    /// A key of the service's own shape, with the content type its extension names.
    pub fn parse(key: &str) -> Option<(ObjectKey, ContentType)> {
        let mut parts = key.split('/');
        let (Some("tenant"), Some(tenant), Some("documents"), Some(file), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let (id, ext) = file.split_once('.')?;
        if !hyphenated_uuid(tenant) || !hyphenated_uuid(id) {
            return None;
        }
        let content = ContentType::from_extension(ext)?;
        Some((ObjectKey(key.to_owned()), content))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `0192f4a0-7b8e-7c3d-9a4f-1b2c3d4e5f60`: the only spelling of an id the service writes.
fn hyphenated_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "0192f4a0-7b8e-7c3d-9a4f-1b2c3d4e5f60";
    const D: &str = "0192f4a0-7b8e-7c3d-9a4f-1b2c3d4e5f61";

    #[test]
    fn the_seed_layout_and_nothing_else() {
        let key = ObjectKey::new(T, D, ContentType::Pdf);
        assert_eq!(key.as_str(), format!("tenant/{T}/documents/{D}.pdf"));
        assert_eq!(
            ObjectKey::parse(key.as_str()),
            Some((key, ContentType::Pdf))
        );
        for bad in [
            format!("tenant/{T}/documents/../{D}.pdf"),
            format!("tenant/{T}/documents/{D}.exe"),
            format!("tenant/../documents/{D}.pdf"),
            format!("tenant/{T}/documents/{D}.pdf/x"),
            format!("/tenant/{T}/documents/{D}.pdf"),
        ] {
            assert_eq!(ObjectKey::parse(&bad), None, "{bad}");
        }
    }
}
