//! The seed's EventPublisher: `publish(topic, event)`. Chosen by `EVENT_PUBLISHER`: `kafka`
//! (`kafka.rs`), `log` (the embedded default: one info line per event, for a developer to see
//! them) or `none` (events are dropped once relayed).

use futures::future::BoxFuture;

use super::Event;
use crate::platform::error::Result;

pub trait EventPublisher: Send + Sync {
    /// Publishes `event` of tenant `tenant` to `topic`; `Ok` once it is safely out.
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        tenant: &'a str,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<()>>;
}

/// Logs each event.
pub struct LogPublisher;

impl EventPublisher for LogPublisher {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        tenant: &'a str,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            tracing::info!(
                topic,
                tenant,
                event_id = %event.id,
                event_type = %event.event_type,
                event = %event.message(tenant),
                "event published"
            );
            Ok(())
        })
    }
}

/// Drops every event.
pub struct NoPublisher;

impl EventPublisher for NoPublisher {
    fn publish<'a>(&'a self, _: &'a str, _: &'a str, _: &'a Event) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// Publishes to each in turn, stopping at the first that fails: the configured publisher, then
/// what else wants every committed event (the broadcasts), so nothing is broadcast that was not
/// published.
pub struct Chain(pub Vec<Box<dyn EventPublisher>>);

impl EventPublisher for Chain {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        tenant: &'a str,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for publisher in &self.0 {
                publisher.publish(topic, tenant, event).await?;
            }
            Ok(())
        })
    }
}
