//! The service's own metrics, on top of what `telemetry` records for any service.
//!
//! - Business counters (the seed's PolicyMetricsCollector, ClaimMetricsCollector and
//!   PaymentMetricsCollector done right): incremented when the event happens, never a COUNT(*)
//!   per scrape.
//! - Status gauges (`statuses`): how many policies and claims each tenant has per status.
//!
//! Every tenant label is capped (`METRICS_TENANT_LABELS`): beyond the cap, tenants fold into
//! `other`, so a platform with thousands of tenants cannot flood Prometheus with series.

pub mod statuses;

/// Sets the tenant-label cap (of metrics and Loki streams alike) and describes the metrics; call
/// once at start.
pub fn init(tenant_labels: usize) {
    telemetry::cap_tenant_labels(tenant_labels);
    // One counter for a bound quote: a policy is created by binding and only so, and a second
    // name for the same count (the seed had policies_created_total too) would always agree.
    metrics::describe_counter!(
        "policies_bound_total",
        "Quotes bound into policies (every policy is created so)"
    );
    metrics::describe_counter!("claims_opened_total", "Claims opened");
    metrics::describe_counter!("payments_received_total", "Payments recorded");
    metrics::describe_counter!(
        "payments_amount_total",
        "Sum of payments recorded, in minor units"
    );
    statuses::describe();
}

/// Gives the first `METRICS_TENANT_LABELS` tenants, oldest first, their labels before any
/// request can: every replica and every restart then names the same tenants, and `other` holds
/// the same ones everywhere. Tenants created later take free labels as they come.
pub fn name_tenants<'a>(oldest_first: impl IntoIterator<Item = &'a str>) {
    for slug in oldest_first {
        tenant(slug);
    }
}

fn tenant(slug: &str) -> String {
    telemetry::tenant_label(slug)
}

pub fn policy_bound(slug: &str) {
    metrics::counter!("policies_bound_total", "tenant" => tenant(slug)).increment(1);
}

pub fn claim_opened(slug: &str) {
    metrics::counter!("claims_opened_total", "tenant" => tenant(slug)).increment(1);
}

pub fn payment_received(slug: &str, currency: &str, amount_minor: i64) {
    let tenant = tenant(slug);
    metrics::counter!("payments_received_total", "tenant" => tenant.clone()).increment(1);
    metrics::counter!("payments_amount_total", "tenant" => tenant, "currency" => currency.to_owned())
        .increment(amount_minor.max(0) as u64);
}
