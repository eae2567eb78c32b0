//! The composition root's state: the platform (`platform::Platform`: tenancy, cache, Redis,
//! jobs, outbox, objects, broadcasts) and what the insurance domain adds to it (its partners).
//! Built once by `startup`, shared as `Arc<AppState>`; it derefs to the platform.

use std::{ops::Deref, sync::Arc};

use crate::{observer::Observer, partners::Partners, platform::Platform};

pub struct AppState {
    pub platform: Arc<Platform>,
    /// The partner routes, through Camel (`partners`).
    pub partners: Arc<Partners>,
}

impl Deref for AppState {
    type Target = Platform;

    fn deref(&self) -> &Platform {
        &self.platform
    }
}

impl AppState {
    /// What a committed change of tenant `slug` is reported to.
    pub fn observer(&self, slug: &str) -> Observer {
        Observer::new(
            self.cache.tenant(slug),
            slug,
            self.jobs.clone(),
            self.partners.configured(),
        )
    }
}
