//! The insurance tables of a tenant database, declared to the platform's tenancy (which adds
//! its own, the outbox, and runs them all in version order).

use sqlx::migrate::Migrator;

use crate::platform::tenancy::Schema;

static SHARED: Migrator = sqlx::migrate!("../migrations/tenant");
/// Full-text search, spelled each engine's way.
static SQLITE: Migrator = sqlx::migrate!("../migrations/tenant-sqlite");
static MARIADB: Migrator = sqlx::migrate!("../migrations/tenant-mariadb");

pub fn schema() -> Schema {
    Schema {
        shared: &SHARED,
        sqlite: &SQLITE,
        mariadb: &MARIADB,
    }
}
