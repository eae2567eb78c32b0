//! Events: the seed's "Future Kafka Integration" (EventPublisher) made reliable by an outbox.
//!
//! Publishing after commit loses the events of a crash in between, and publishing before commit
//! announces changes that may roll back. So a change and its events commit together: services
//! write each event into the tenant's `outbox` table in the change's own transaction
//! (`services::emit`), and a relay (`relay.rs`) publishes what is committed.
//!
//! When does the relay run? Right after a commit: the PolicyObserver nudges it for the tenant,
//! so an event is out within milliseconds. And every `OUTBOX_SWEEP_SECS` over every active
//! tenant, which picks up what a nudge missed (a replica that died after its commit, a publisher
//! that was down), measures the oldest unsent event, and prunes sent rows older than
//! `OUTBOX_RETENTION_HOURS`. Both borrow the tenant's pool if it is open, else a one-off
//! connection, so relaying never keeps a pool alive.

mod kafka;
pub mod publisher;
pub mod relay;

use std::{sync::Arc, time::Duration};

use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::{
    backlog::Backlog,
    config::{Config, EventPublisherKind},
    db::now_ms,
    error::{Error, Result},
    state::AppState,
    store,
    tenancy::Tenant,
};
use publisher::{EventPublisher, LogPublisher, NoPublisher};

/// The process's relay: its publisher and the tenants it was nudged for.
pub struct Events {
    publisher: Box<dyn EventPublisher>,
    /// This replica, as the holder of tenants' relay leases.
    holder: String,
    topic_prefix: String,
    /// The tenants nudged for.
    nudged: Backlog<String>,
}

impl Events {
    /// The relay with the configured publisher; Kafka without brokers is refused.
    pub fn new(config: &Config) -> Result<Events> {
        describe();
        let publisher: Box<dyn EventPublisher> = match config.event_publisher {
            EventPublisherKind::Kafka => match config.kafka_brokers.as_deref() {
                Some(brokers) if !brokers.trim().is_empty() => {
                    Box::new(kafka::KafkaPublisher::new(brokers)?)
                }
                _ => {
                    return Err(Error::Config(
                        "EVENT_PUBLISHER=kafka needs KAFKA_BROKERS (host:port, comma-separated)"
                            .into(),
                    ));
                }
            },
            EventPublisherKind::Log => Box::new(LogPublisher),
            EventPublisherKind::None => Box::new(NoPublisher),
        };
        Ok(Events {
            publisher,
            holder: uuid::Uuid::now_v7().to_string(),
            topic_prefix: config.kafka_topic_prefix.clone(),
            nudged: Backlog::default(),
        })
    }

    /// Tenant `slug` committed events: relay them now.
    pub fn nudge(&self, slug: &str) {
        self.nudged.add(slug.to_owned());
    }

    /// Waits (at most `within`) until every nudge has been relayed: on shutdown, so the events
    /// of the last requests leave with the process rather than at the next sweep.
    pub async fn settled(&self, within: Duration) {
        self.nudged.settled(within).await;
    }

    /// Relays one tenant's events (failures are logged and counted, and retried later). On a
    /// `sweep`, also prunes what was sent before the retention and says when the oldest unsent
    /// event was written; all on one borrowed connection.
    async fn relay(&self, state: &AppState, tenant: &Tenant, sweep: bool) -> Option<i64> {
        let borrowed = match state.tenancy.borrow_db(tenant).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(tenant = %tenant.slug, error = %e, "event relay: no connection");
                return None;
            }
        };
        let db = borrowed.db();
        let relayed = relay::relay_once(
            db,
            &tenant.slug,
            &self.holder,
            &self.topic_prefix,
            self.publisher.as_ref(),
        )
        .await;
        if let Err(e) = relayed {
            tracing::warn!(tenant = %tenant.slug, error = %e, "event relay failed");
        }
        let oldest = match db.conn().await {
            Ok(mut conn) if sweep => {
                let retention = state.config.outbox_retention().as_millis() as i64;
                let pruned = store::outbox::prune(&mut conn.sql(), now_ms() - retention).await;
                metrics::counter!("outbox_pruned_total").increment(pruned.unwrap_or(0));
                store::outbox::oldest_unsent(&mut conn.sql())
                    .await
                    .ok()
                    .flatten()
            }
            _ => None,
        };
        borrowed.done().await;
        oldest
    }
}

/// Runs the relay until the process stops: on nudges, and every `OUTBOX_SWEEP_SECS`.
pub fn spawn(state: Arc<AppState>) -> JoinHandle<()> {
    tokio::spawn(async move {
        // The first sweep one period after start: a start has nothing to catch up yet.
        let period = state.config.outbox_sweep();
        let mut sweep = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                batch = state.events.nudged.take() => {
                    for slug in &batch.items {
                        if let Ok(Some(tenant)) = state.tenancy.resolve(slug).await {
                            state.events.relay(&state, &tenant, false).await;
                        }
                    }
                }
                _ = sweep.tick() => catch_up(&state).await,
            }
        }
    })
}

/// Every active tenant: relay what is left, prune, measure the oldest unsent event.
async fn catch_up(state: &AppState) {
    let Ok(tenants) = state.tenancy.list_active().await else {
        return;
    };
    let mut oldest: Option<i64> = None;
    for tenant in tenants {
        if let Some(at) = state.events.relay(state, &tenant, true).await {
            oldest = Some(oldest.map_or(at, |o| o.min(at)));
        }
    }
    let age = oldest.map_or(0.0, |at| (now_ms() - at).max(0) as f64 / 1000.0);
    metrics::gauge!("outbox_oldest_unsent_seconds").set(age);
}

fn describe() {
    metrics::describe_counter!(
        "events_published_total",
        "Outbox events handed to the EventPublisher, by type and outcome (published, failed)"
    );
    metrics::describe_histogram!(
        "events_publish_lag_seconds",
        metrics::Unit::Seconds,
        "From an event's commit to its publish"
    );
    metrics::describe_gauge!(
        "outbox_oldest_unsent_seconds",
        "Age of the oldest event not yet published, over every tenant (at the last sweep)"
    );
    metrics::describe_counter!(
        "outbox_pruned_total",
        "Sent events deleted after the retention"
    );
    metrics::counter!("outbox_pruned_total").absolute(0);
    metrics::gauge!("outbox_oldest_unsent_seconds").set(0.0);
}
