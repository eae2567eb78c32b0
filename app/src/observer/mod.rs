//! The seed's PolicyObserver: the one place every committed change to a policy, and to the
//! payments and claims that hang off it, passes through. Handlers (and the expiry job) report
//! what they committed here, once, after the transaction; what follows from a change is decided
//! here and nowhere else: cache invalidation, the jobs it causes (the search update, the event
//! relay, the partner notice of a bound policy, the archiving of an ended policy's documents),
//! the business counters and the status gauges;
//! broadcasts follow from the relayed events. No handler ever has to learn about them.
//!
//! An event is reported only once its transaction committed: a listener never acts on a change
//! that was rolled back.

use std::sync::Arc;

use crate::{
    business_metrics,
    domain::{
        claim::Claim,
        payment::Payment,
        policy::{Policy, PolicyStatus},
    },
    jobs::{ArchivePolicyDocuments, NotifyPartner, UpdateSearchIndex},
    partners,
    platform::cache::TenantCache,
    platform::outbox::RelayOutbox,
    platform::queue::{Jobs, Task},
    services::keys::{ACTIVE_POLICIES, PolicyKey, QuoteKey},
};

/// A committed change, with the record as it now is.
pub enum PolicyEvent<'a> {
    /// A quote became this policy.
    Bound(&'a Policy),
    /// The policy was activated, cancelled or expired (on request, or past its term).
    Moved(&'a Policy),
    /// The policy's terms or notes changed (PATCH).
    Changed(&'a Policy),
    PaymentReceived(&'a Payment),
    ClaimOpened(&'a Claim),
    ClaimMoved(&'a Claim),
}

/// What listens to one tenant's committed changes.
pub struct Observer {
    cache: TenantCache,
    slug: String,
    jobs: Arc<Jobs>,
    /// Whether partners are told of bound policies (CAMEL_URL is set).
    partners: bool,
}

impl Observer {
    pub fn new(cache: TenantCache, slug: &str, jobs: Arc<Jobs>, partners: bool) -> Observer {
        Observer {
            cache,
            slug: slug.to_owned(),
            jobs,
            partners,
        }
    }

    /// Reports a committed change.
    pub async fn committed(&self, event: PolicyEvent<'_>) {
        let slug = self.slug.as_str();
        invalidate(&self.cache, &event).await;
        // The seed's `dispatch(new UpdateSearchIndex($policy))` for the policy whose document
        // changed; and the change's events are in the outbox, committed with it: relay them now
        // (a PATCH writes none). One push.
        let policy_id = match &event {
            PolicyEvent::Bound(p) | PolicyEvent::Moved(p) | PolicyEvent::Changed(p) => &p.id,
            PolicyEvent::PaymentReceived(p) => &p.policy_id,
            PolicyEvent::ClaimOpened(c) | PolicyEvent::ClaimMoved(c) => &c.policy_id,
        };
        let index = Task::of(&UpdateSearchIndex {
            policy_id: policy_id.clone(),
        });
        let relay = (!matches!(event, PolicyEvent::Changed(_)))
            .then(|| Task::of(&RelayOutbox { sweep: false }));
        // The partners hear of a bound policy through a job: their outage never fails a bind.
        let notice = match &event {
            PolicyEvent::Bound(p) if self.partners => Some(Task::of(&NotifyPartner {
                route: partners::POLICY_BOUND.to_owned(),
                data: bound_notice(p),
            })),
            _ => None,
        };
        // An ended policy's documents go to the archive class (the seed's S3 lifecycle, for
        // what only the service knows: that the term is over).
        let archive = match &event {
            PolicyEvent::Moved(p)
                if matches!(p.status, PolicyStatus::Cancelled | PolicyStatus::Expired) =>
            {
                Some(Task::of(&ArchivePolicyDocuments {
                    policy_id: p.id.clone(),
                }))
            }
            _ => None,
        };
        self.jobs
            .dispatch(
                slug,
                relay
                    .into_iter()
                    .chain([index])
                    .chain(notice)
                    .chain(archive),
            )
            .await;
        // The business counters.
        match &event {
            PolicyEvent::Bound(_) => business_metrics::policy_bound(slug),
            PolicyEvent::PaymentReceived(p) => {
                business_metrics::payment_received(slug, &p.currency, p.amount_minor)
            }
            PolicyEvent::ClaimOpened(_) => business_metrics::claim_opened(slug),
            PolicyEvent::Moved(_) | PolicyEvent::Changed(_) | PolicyEvent::ClaimMoved(_) => {}
        }
        // The status gauges, for every change of a policy's or a claim's status.
        if !matches!(
            event,
            PolicyEvent::Changed(_) | PolicyEvent::PaymentReceived(_)
        ) {
            business_metrics::statuses::changed(slug);
        }
    }
}

/// What a partner is told of a bound policy; `id` lets it ignore a repeated notice.
fn bound_notice(p: &Policy) -> serde_json::Value {
    serde_json::json!({
        "id": p.id,
        "policy_number": p.number,
        "quote_id": p.quote_id,
        "insured_id": p.insured_id,
        "currency": p.currency,
        "premium_minor": p.premium_minor,
        "effective_date": p.effective_date.to_string(),
        "expiry_date": p.expiry_date.to_string(),
        "bound_at": p.bound_at.to_rfc3339(),
    })
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
        PolicyEvent::PaymentReceived(p) => cache.batch().forget(&PolicyKey(&p.policy_id)),
        PolicyEvent::ClaimOpened(c) | PolicyEvent::ClaimMoved(c) => {
            cache.batch().forget(&PolicyKey(&c.policy_id))
        }
    };
    batch.flush(ACTIVE_POLICIES).send().await;
}
