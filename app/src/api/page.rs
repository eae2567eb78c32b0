//! Cursor pagination. A cursor is opaque to clients: base64url of `v1:<last id>`. The version
//! prefix lets the encoding change later without breaking a cursor a client still holds.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem_openapi::{
    Object,
    types::{ParseFromJSON, ToJSON},
};

use crate::{
    error::{Error, Result},
    store::{Page, PageRequest},
};

pub const DEFAULT_LIMIT: u32 = 20;

/// A page of records, newest first.
#[derive(Object)]
pub struct PageOf<T: ParseFromJSON + ToJSON> {
    /// The records of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

impl<T: ParseFromJSON + ToJSON> From<Page<T>> for PageOf<T> {
    fn from(p: Page<T>) -> Self {
        PageOf {
            items: p.items,
            next_cursor: p.next.map(|id| URL_SAFE_NO_PAD.encode(format!("v1:{id}"))),
        }
    }
}

/// Checks `limit` (poem-openapi enforces the documented bounds) and decodes `cursor`.
pub fn request(cursor: Option<String>, limit: Option<u32>) -> Result<PageRequest> {
    // `?cursor=` (empty) is the first page, as generated clients send it.
    let after = cursor
        .filter(|c| !c.is_empty())
        .map(|c| decode(&c))
        .transpose()?;
    Ok(PageRequest {
        after,
        limit: limit.unwrap_or(DEFAULT_LIMIT),
    })
}

fn decode(cursor: &str) -> Result<String> {
    let bad = || Error::bad_request(Some("cursor"), "not a cursor this service issued");
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let id = text.strip_prefix("v1:").ok_or_else(bad)?;
    uuid::Uuid::parse_str(id)
        .map(|u| u.to_string())
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::insured::Insured;

    #[test]
    fn cursor_round_trip_and_junk() {
        let id = uuid::Uuid::now_v7().to_string();
        let page: PageOf<Insured> = Page {
            items: vec![],
            next: Some(id.clone()),
        }
        .into();
        let cursor = page.next_cursor.unwrap_or_default();
        assert_eq!(decode(&cursor).ok(), Some(id));
        for junk in ["", "!!", "djE6bm9wZQ", "eDp5"] {
            assert!(decode(junk).is_err(), "{junk}");
        }
    }
}
