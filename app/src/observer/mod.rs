//! The seed's PolicyObserver: the one place every committed change to a policy, and to the
//! payments and claims that hang off it, passes through. Handlers (and the expiry sweep) report
//! what they committed here, once, after the transaction; what follows from a change is decided
//! here and nowhere else: cache invalidation, the business counters and the status gauges today;
//! the search index, broadcasts and partner notices plug in here as they come, so no handler
//! ever has to learn about them.
//!
//! An event is reported only once its transaction committed: a listener never acts on a change
//! that was rolled back.

mod search;

use std::sync::Arc;

use crate::{
    cache::{
        TenantCache,
        keys::{PolicyKey, QuoteKey, Tag},
    },
    domain::{claim::Claim, payment::Payment, policy::Policy},
    events::Events,
    observability,
};
pub use search::SearchIndex;

/// A committed change, with the record as it now is.
pub enum PolicyEvent<'a> {
    /// A quote became this policy.
    Bound(&'a Policy),
    /// The policy was activated, cancelled or expired on request.
    Moved(&'a Policy),
    /// The policy's terms or notes changed (PATCH).
    Changed(&'a Policy),
    /// The expiry sweep expired this many of the tenant's policies.
    Swept(u64),
    PaymentReceived(&'a Payment),
    ClaimOpened(&'a Claim),
    ClaimMoved(&'a Claim),
}

/// What listens to one tenant's committed changes.
pub struct Observer {
    cache: TenantCache,
    slug: String,
    index: Arc<dyn SearchIndex>,
    events: Arc<Events>,
}

impl Observer {
    pub fn new(
        cache: TenantCache,
        slug: &str,
        index: Arc<dyn SearchIndex>,
        events: Arc<Events>,
    ) -> Observer {
        Observer {
            cache,
            slug: slug.to_owned(),
            index,
            events,
        }
    }

    /// Reports a committed change.
    pub async fn committed(&self, event: PolicyEvent<'_>) {
        let slug = self.slug.as_str();
        invalidate(&self.cache, &event).await;
        // The change's events are in the outbox, committed with it: relay them now. (A PATCH
        // writes none.)
        if !matches!(event, PolicyEvent::Changed(_)) {
            self.events.nudge(slug);
        }
        // The search index: the policy whose document changed, or all of the tenant's.
        match &event {
            PolicyEvent::Bound(p) | PolicyEvent::Moved(p) | PolicyEvent::Changed(p) => {
                self.index.policy_changed(slug, &p.id)
            }
            PolicyEvent::PaymentReceived(p) => self.index.policy_changed(slug, &p.policy_id),
            PolicyEvent::ClaimOpened(c) | PolicyEvent::ClaimMoved(c) => {
                self.index.policy_changed(slug, &c.policy_id)
            }
            PolicyEvent::Swept(_) => self.index.tenant_changed(slug),
        }
        // The business counters.
        match &event {
            PolicyEvent::Bound(_) => observability::policy_bound(slug),
            PolicyEvent::PaymentReceived(p) => {
                observability::payment_received(slug, &p.currency, p.amount_minor)
            }
            PolicyEvent::ClaimOpened(_) => observability::claim_opened(slug),
            PolicyEvent::Moved(_)
            | PolicyEvent::Changed(_)
            | PolicyEvent::Swept(_)
            | PolicyEvent::ClaimMoved(_) => {}
        }
        // The status gauges, for every change of a policy's or a claim's status.
        if !matches!(
            event,
            PolicyEvent::Changed(_) | PolicyEvent::PaymentReceived(_)
        ) {
            observability::statuses::changed(slug);
        }
    }
}

/// What the change makes stale, as the seed's PolicyObserver says: the policy (tags `policies`
/// and the tenant's; on a payment or a claim too), the quote it came from (`quotes`), and every page that lists active
/// policies (they show last payments and claim counts too). One Redis round trip.
async fn invalidate(cache: &TenantCache, event: &PolicyEvent<'_>) {
    let batch = match event {
        PolicyEvent::Bound(p) | PolicyEvent::Moved(p) | PolicyEvent::Changed(p) => cache
            .batch()
            .forget(&PolicyKey(&p.id))
            .forget(&QuoteKey(&p.quote_id)),
        PolicyEvent::Swept(_) => cache.batch().flush(Tag::Policies),
        PolicyEvent::PaymentReceived(p) => cache.batch().forget(&PolicyKey(&p.policy_id)),
        PolicyEvent::ClaimOpened(c) | PolicyEvent::ClaimMoved(c) => {
            cache.batch().forget(&PolicyKey(&c.policy_id))
        }
    };
    batch.flush(Tag::ActivePolicies).send().await;
}
