//! Database pool gauges, read from the pools when Prometheus scrapes (reading is a few atomic
//! loads; nothing to keep current in between). The waits for a connection are histograms
//! recorded by `db::Db` itself.

use super::Tenancy;

pub fn describe() {
    metrics::describe_gauge!(
        "db_pool_connections",
        "Open database connections by pool (landlord, tenant: all tenant pools together) and state (in_use, idle)"
    );
    metrics::describe_gauge!(
        "db_pool_max_connections",
        "Most connections the pools may open"
    );
    metrics::describe_gauge!("db_pools_open", "Database pools open");
    metrics::describe_counter!(
        "db_pool_budget_timeouts_total",
        "Requests refused (503) because no tenant-connection budget came free in time"
    );
    metrics::describe_counter!(
        "db_statement_timeouts_total",
        "Statements the database did not answer within 10 s (the request got 503)"
    );
    // At 0 from the start, so a rate (and an alert on it) has a series before the first one.
    metrics::counter!("db_pool_budget_timeouts_total").absolute(0);
    metrics::counter!("db_statement_timeouts_total").absolute(0);
    metrics::describe_counter!(
        "db_statements_total",
        "SQL statements run, by operation and table"
    );
    metrics::describe_histogram!(
        "db_pool_acquire_duration_seconds",
        metrics::Unit::Seconds,
        "Wait for a pooled connection"
    );
    metrics::describe_histogram!(
        "db_transaction_begin_duration_seconds",
        metrics::Unit::Seconds,
        "Wait for a pooled connection and its BEGIN (on SQLite, the write lock)"
    );
}

/// Sets the pool gauges; called by the `/metrics` endpoint before it renders.
pub fn collect(tenancy: &Tenancy) {
    for (role, usage) in tenancy.pool_usage() {
        let pool = role.as_str();
        for (state, n) in [("in_use", usage.in_use), ("idle", usage.idle)] {
            metrics::gauge!("db_pool_connections", "pool" => pool, "state" => state)
                .set(f64::from(n));
        }
        metrics::gauge!("db_pool_max_connections", "pool" => pool).set(f64::from(usage.max));
        metrics::gauge!("db_pools_open", "pool" => pool).set(f64::from(usage.pools));
    }
}
