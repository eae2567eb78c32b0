//! The relay: publishes a tenant's unsent outbox rows in order and stamps each as sent.
//!
//! - **One relay per tenant at a time, across workers:** a lease row in the tenant's database
//!   (`outbox_relay`), taken and renewed by a guarded UPDATE, so rows of one aggregate are never
//!   published out of order by two relays at once. A relay that dies loses it after `LEASE`.
//! - **No event left behind by a busy lease:** a relay that finds the lease held returns at once,
//!   trusting the holder; so the holder, after giving the lease back, looks once more for unsent
//!   rows and goes round again if there are any. An event committed while it held the lease (whose
//!   own relay found it busy) is therefore relayed by the holder, not left for the next sweep.
//! - **At least once, with the event id:** a row is stamped after its publish; a crash between
//!   the two publishes it again with the same id, which is what consumers deduplicate on.
//! - **In order:** a publish that fails stops the round, so no later event of the tenant
//!   overtakes it; the next round retries it.

use std::time::Duration;

use tracing::Instrument;

use super::{publisher::EventPublisher, store};
use crate::{
    platform::db::{Db, now_ms},
    platform::error::Result,
};

/// How long a relay's hold on a tenant lasts unless renewed.
const LEASE: Duration = Duration::from_secs(10);

/// Rows read at a time.
const BATCH: u32 = 100;

/// Publishes the tenant's unsent events (if this `holder` gets the tenant's lease) to topics
/// named `{topic_prefix}{aggregate type}`; how many it published.
pub async fn relay_once(
    db: &Db,
    tenant: &str,
    holder: &str,
    topic_prefix: &str,
    publisher: &dyn EventPublisher,
) -> Result<usize> {
    let mut conn = db.conn().await?;
    let mut published = 0;
    loop {
        let now = now_ms();
        if !store::lease(&mut conn.sql(), holder, now, now + LEASE.as_millis() as i64).await? {
            return Ok(published);
        }
        let round = drain(&mut conn, tenant, holder, topic_prefix, publisher).await;
        store::release(&mut conn.sql(), holder).await?;
        published += round?;
        if !store::any_unsent(&mut conn.sql()).await? {
            return Ok(published);
        }
    }
}

/// Publishes unsent rows, a batch at a time, while the lease holds; how many.
async fn drain(
    conn: &mut crate::platform::db::DbConn,
    tenant: &str,
    holder: &str,
    topic_prefix: &str,
    publisher: &dyn EventPublisher,
) -> Result<usize> {
    let mut published = 0;
    let mut renewed = std::time::Instant::now();
    loop {
        let batch = store::unsent(&mut conn.sql(), BATCH).await?;
        let full = batch.len() == BATCH as usize;
        for event in batch {
            // A slow publisher must not outlive the lease: renewed well before it ends, and
            // the round stops if another relay has it.
            if renewed.elapsed() > LEASE / 3 {
                let now = now_ms();
                if !store::lease(&mut conn.sql(), holder, now, now + LEASE.as_millis() as i64)
                    .await?
                {
                    return Ok(published);
                }
                renewed = std::time::Instant::now();
            }
            let topic = format!("{topic_prefix}{}", event.aggregate_type);
            let span = tracing::info_span!(
                "publish",
                otel.name = %format_args!("publish {}", event.event_type),
                otel.kind = "producer",
                messaging.destination.name = %topic,
                messaging.message.id = %event.id,
                tenant.id = tenant,
            );
            if let Some(parent) = &event.traceparent {
                telemetry::propagation::continue_trace(&span, parent);
            }
            let sent = publisher
                .publish(&topic, tenant, &event)
                .instrument(span)
                .await;
            let outcome = if sent.is_ok() { "published" } else { "failed" };
            metrics::counter!(
                "events_published_total",
                "event_type" => event.event_type.clone(),
                "outcome" => outcome
            )
            .increment(1);
            if let Err(e) = sent {
                tracing::warn!(tenant, event_id = %event.id, error = %e, "event not published; retried next round");
                return Err(e);
            }
            metrics::histogram!("events_publish_lag_seconds")
                .record((now_ms() - event.created_at).max(0) as f64 / 1000.0);
            store::mark_sent(&mut conn.sql(), &event.id, now_ms()).await?;
            published += 1;
        }
        let now = now_ms();
        if !full
            || !store::lease(&mut conn.sql(), holder, now, now + LEASE.as_millis() as i64).await?
        {
            return Ok(published);
        }
        renewed = std::time::Instant::now();
    }
}
