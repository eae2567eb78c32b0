//! Events: the seed's "Future Kafka Integration" (EventPublisher) made reliable by an outbox.
//!
//! Publishing after commit loses the events of a crash in between, and publishing before commit
//! announces changes that may roll back. So a change and its events commit together: services
//! write each event (`event.rs`, their kinds the domain's) into the tenant's `outbox` table in
//! the change's own transaction (`emit`), and a relay (`relay.rs`) publishes what is committed.
//!
//! The relay is a job (`RelayOutbox`, on the tenant's `high` queue, registered by the platform):
//! the domain's observer queues one after every commit, so an event is out within milliseconds; and
//! every `OUTBOX_SWEEP_SECS` the clock queues a sweeping one for every active tenant, which picks
//! up what a relay missed (a publisher that was down), measures the oldest unsent event, and
//! prunes sent rows older than `OUTBOX_RETENTION_HOURS`. A relay borrows the tenant's pool if it
//! is open, else a one-off connection, so relaying never keeps a pool alive.

mod connection;
mod event;
mod kafka;
mod msk_iam;
pub mod publisher;
pub mod relay;
pub mod settings;
mod store;

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use crate::platform::{
    db::{Db, Sql, now_ms},
    error::{Error, Result},
    outbox::settings::{EventPublisherKind, OutboxConfig},
    queue::{JobKind, Priority},
    tenancy::{Tenancy, Tenant},
    tls::Tls,
};
pub use event::Event;
use publisher::{Chain, EventPublisher, LogPublisher, NoPublisher};

/// Writes a change's event into the outbox, in the change's transaction, with the trace
/// context of the request that made it.
pub async fn emit(sql: &mut Sql<'_>, event: Event) -> Result<()> {
    let event = event.traced(telemetry::propagation::current_traceparent());
    store::insert(sql, &event).await
}

/// Publish the tenant's unsent outbox events; with `sweep`, also prune sent ones and measure the
/// oldest unsent. Events carry their id, so a republish is deduplicated downstream. First in
/// line (`high`): events are what other systems wait for. A failed relay is not kept: the next
/// sweep relays its events.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RelayOutbox {
    pub sweep: bool,
}

impl JobKind for RelayOutbox {
    const NAME: &'static str = "RelayOutbox";
    const PRIORITY: Priority = Priority::High;
    const MAX_TRIES: u32 = 3;
    const KEPT_WHEN_FAILED: bool = false;

    fn unique_key(&self) -> String {
        if self.sweep { "relay-sweep" } else { "relay" }.to_owned()
    }
}

/// The process's relay: its publishers and what its sweeps found.
pub struct Events {
    publisher: Chain,
    topic_prefix: String,
    retention: Duration,
    /// When each tenant's oldest unsent event was written, as its last sweep found it.
    oldest: Mutex<HashMap<String, i64>>,
}

impl Events {
    /// The relay with the configured publisher, then each of `then` (the broadcasts); Kafka
    /// without brokers is refused.
    pub async fn new(
        config: &OutboxConfig,
        then: Vec<Box<dyn EventPublisher>>,
        tls: &Tls,
    ) -> Result<Events> {
        describe();
        let publisher: Box<dyn EventPublisher> = match config.publisher {
            EventPublisherKind::Kafka => match config.kafka_brokers.as_deref() {
                Some(brokers) if !brokers.trim().is_empty() => {
                    let env: Vec<(String, String)> = std::env::vars().collect();
                    let properties = connection::properties(
                        config.kafka_properties_file.as_deref(),
                        &env,
                        config.kafka_sasl_password.as_ref(),
                        config.kafka_aws_msk_iam,
                        tls,
                    )?;
                    let msk = if config.kafka_aws_msk_iam {
                        Some(msk_iam::MskIam::new().await.map_err(Error::Config)?)
                    } else {
                        None
                    };
                    let context = kafka::Context { msk };
                    Box::new(kafka::KafkaPublisher::new(brokers, &properties, context)?)
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
            publisher: Chain([publisher].into_iter().chain(then).collect()),
            topic_prefix: config.kafka_topic_prefix.clone(),
            retention: config.retention,
            oldest: Mutex::default(),
        })
    }

    /// Relays one tenant's events. On a `sweep`, also prunes what was sent before the
    /// retention and measures the oldest unsent event; all on one borrowed connection.
    pub async fn relay(&self, tenancy: &Tenancy, tenant: &Tenant, sweep: bool) -> Result<()> {
        let borrowed = tenancy.borrow_db(tenant).await?;
        let db = borrowed.db();
        let relayed = relay::relay_once(
            db,
            &tenant.slug,
            // A holder per relay, not per process: two relay jobs of one worker must exclude
            // each other too.
            &uuid::Uuid::now_v7().to_string(),
            &self.topic_prefix,
            &self.publisher,
        )
        .await;
        let measured = match relayed {
            Ok(_) if sweep => self.measure(db, &tenant.slug).await,
            other => other.map(|_| ()),
        };
        borrowed.done().await;
        measured
    }

    /// Prunes sent rows past the retention and updates `outbox_oldest_unsent_seconds` (the
    /// oldest over the tenants this process swept).
    async fn measure(&self, db: &Db, slug: &str) -> Result<()> {
        let mut conn = db.conn().await?;
        let retention = self.retention.as_millis() as i64;
        let pruned = store::prune(&mut conn.sql(), now_ms() - retention).await?;
        metrics::counter!("outbox_pruned_total").increment(pruned);
        let oldest = store::oldest_unsent(&mut conn.sql()).await?;
        let mut all = self.oldest.lock().unwrap_or_else(PoisonError::into_inner);
        match oldest {
            Some(at) => all.insert(slug.to_owned(), at),
            None => all.remove(slug),
        };
        let age = all
            .values()
            .min()
            .map_or(0.0, |at| (now_ms() - at).max(0) as f64 / 1000.0);
        metrics::gauge!("outbox_oldest_unsent_seconds").set(age);
        Ok(())
    }
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
        "Age of the oldest event not yet published, over the tenants this process swept (at their last sweep)"
    );
    metrics::describe_counter!(
        "outbox_pruned_total",
        "Sent events deleted after the retention"
    );
    metrics::counter!("outbox_pruned_total").absolute(0);
    metrics::gauge!("outbox_oldest_unsent_seconds").set(0.0);
}
