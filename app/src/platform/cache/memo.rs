//! A cached value shared, not copied: every request an entry serves gets the same `Arc`, and
//! what the value renders to (its JSON body) is made once, by the first request that needs it.
//! An L1 hit then costs no copy of the record and no serialization: on a 20-policy page that
//! was most of the request (allocations for the JSON tree).

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

pub struct Memo<T> {
    value: T,
    rendered: OnceLock<Bytes>,
}

impl<T> Memo<T> {
    pub fn new(value: T) -> Arc<Memo<T>> {
        Arc::new(Memo {
            value,
            rendered: OnceLock::new(),
        })
    }

    pub fn value(&self) -> &T {
        &self.value
    }

    /// The value rendered by `render`, the first time it is asked for; the same bytes after.
    /// Every caller must render the same way (one API representation per key type).
    pub fn rendered(&self, render: impl FnOnce(&T) -> Bytes) -> Bytes {
        self.rendered.get_or_init(|| render(&self.value)).clone()
    }
}
