//! The seed's PolicyObserver: the one place every committed change to a policy, and to the
//! payments and claims that hang off it, passes through. Handlers (and the expiry sweep) report
//! what they committed here, once, after the transaction; what follows from a change is decided
//! here and nowhere else: cache invalidation, the business counters and the status gauges today;
//! the search index, broadcasts and partner notices plug in here as they come, so no handler
//! ever has to learn about them.
//!
//! An event is reported only once its transaction committed: a listener never acts on a change
//! that was rolled back.

use crate::{
    cache::{
        TenantCache,
        keys::{PolicyKey, QuoteKey, Tag},
    },
    domain::{claim::Claim, payment::Payment, policy::Policy},
    observability,
};

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

/// Reports a committed change of the tenant `slug` (whose cache is `cache`).
pub async fn committed(cache: &TenantCache, slug: &str, event: PolicyEvent<'_>) {
    invalidate(cache, &event).await;
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

/// What the change makes stale: the policy and the quote it came from, and every page that lists
/// active policies (they show last payments and claim counts too).
async fn invalidate(cache: &TenantCache, event: &PolicyEvent<'_>) {
    let policy = match event {
        PolicyEvent::Bound(p) | PolicyEvent::Moved(p) | PolicyEvent::Changed(p) => Some(*p),
        PolicyEvent::Swept(_) => {
            cache.flush(Tag::Policies).await;
            None
        }
        PolicyEvent::PaymentReceived(_)
        | PolicyEvent::ClaimOpened(_)
        | PolicyEvent::ClaimMoved(_) => None,
    };
    if let Some(p) = policy {
        cache.forget(&PolicyKey(&p.id)).await;
        cache.forget(&QuoteKey(&p.quote_id)).await;
    }
    cache.flush(Tag::ActivePolicies).await;
}
