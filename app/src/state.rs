//! The composition root's state: the platform (`platform::Platform`: tenancy, cache, Redis,
//! jobs, outbox, objects, broadcasts) and what the insurance domain adds to it (its partners).
//! Built once by `startup`, shared as `Arc<AppState>`; it derefs to the platform.

use std::{ops::Deref, sync::Arc};

use crate::{
    config::InsuranceConfig,
    observer::Observer,
    partners::Partners,
    platform::Platform,
    platform::queue::{Registry, Runner},
};

pub struct AppState {
    pub platform: Arc<Platform>,
    /// The partner routes, through Camel (`partners`).
    pub partners: Arc<Partners>,
    /// The insurance domain's own settings (underwriting rules, the expiry sweep).
    pub insurance: InsuranceConfig,
    /// The kinds of job this service runs, with their handlers (`Platform::kinds` and `job_handlers`).
    pub kinds: Arc<Registry>,
}

impl Deref for AppState {
    type Target = Platform;

    fn deref(&self) -> &Platform {
        &self.platform
    }
}

impl AppState {
    /// What runs this service's jobs.
    pub fn runner(&self) -> Runner {
        Runner {
            platform: self.platform.clone(),
            kinds: self.kinds.clone(),
        }
    }

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
