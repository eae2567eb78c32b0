//! The kinds of job a service runs, each with its handler: what a worker (or `serve`'s own
//! runner) looks a job up in. The part of the service that owns a kind registers it: the
//! platform its outbox relay, the domain its own (`register::<UpdateSearchIndex>(…)`), as Loco
//! apps register their workers.

use std::{collections::HashMap, future::Future, sync::Arc};

use futures::future::BoxFuture;

use super::job::JobKind;
use crate::{
    platform::error::{Error, Result},
    platform::tenancy::Tenant,
};

type Handler =
    Arc<dyn Fn(Arc<Tenant>, serde_json::Value) -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// A registered kind: how often it is tried, and what runs it.
#[derive(Clone)]
pub struct Kind {
    pub max_tries: u32,
    pub kept_when_failed: bool,
    handler: Handler,
}

impl Kind {
    /// Runs one job of this kind, for `tenant`, with its data.
    pub fn handle(
        &self,
        tenant: Arc<Tenant>,
        data: serde_json::Value,
    ) -> BoxFuture<'static, Result<()>> {
        (self.handler)(tenant, data)
    }
}

#[derive(Default, Clone)]
pub struct Registry {
    kinds: HashMap<&'static str, Kind>,
}

impl Registry {
    /// Jobs of kind `K` run `handler` (with the tenant, resolved, and the job's value).
    pub fn register<K, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        K: JobKind,
        F: Fn(Arc<Tenant>, K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let handler: Handler = Arc::new(move |tenant, data| {
            let handler = handler.clone();
            Box::pin(async move {
                let job: K = serde_json::from_value(data).map_err(|e| {
                    Error::Internal(format!("a {} job's data does not read: {e}", K::NAME))
                })?;
                handler(tenant, job).await
            })
        });
        self.kinds.insert(
            K::NAME,
            Kind {
                max_tries: K::MAX_TRIES,
                kept_when_failed: K::KEPT_WHEN_FAILED,
                handler,
            },
        );
        self
    }

    pub fn get(&self, name: &str) -> Option<&Kind> {
        self.kinds.get(name)
    }

    /// The kinds' names, for metrics that start at 0.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }
}
