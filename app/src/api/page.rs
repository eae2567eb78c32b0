//! Cursor pagination. A cursor is the id of the last record of the page before: lists are keyset
//! pages on time-ordered (v7) ids, so any UUID is a valid position, and the document can say
//! exactly what a cursor is (`format: uuid`) without the server refusing a value it allows.

use poem_openapi::{
    Object,
    types::{ParseFromJSON, ToJSON},
};

use crate::{
    domain::scalars::Id,
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
    pub next_cursor: Option<Id>,
}

/// `next` is the id of a record read from the store, always a UUID.
impl<T: ParseFromJSON + ToJSON> From<Page<T>> for PageOf<T> {
    fn from(p: Page<T>) -> Self {
        PageOf {
            items: p.items,
            next_cursor: p.next.and_then(|id| id.parse().ok()),
        }
    }
}

/// `limit` is checked by poem-openapi against its documented bounds.
pub fn request(cursor: Option<Id>, limit: Option<u32>) -> PageRequest {
    PageRequest {
        after: cursor.map(Id::into_string),
        limit: limit.unwrap_or(DEFAULT_LIMIT),
    }
}
