//! The seed's TenantMigrateCommand: migrate every active tenant (or one), a few at a time.
//! One tenant's failure is recorded and the others go on; the report names each failure.
//! How progress is shown is the caller's business (`Progress`), so the CLI can draw a bar on a
//! terminal and print plain lines elsewhere.

use futures::{StreamExt, stream};

use super::{Tenancy, Tenant};
use crate::platform::error::{Error, Result};

pub trait Progress: Sync {
    fn start(&self, total: usize);
    fn done(&self, slug: &str, outcome: &Result<()>);
}

#[derive(Debug, Default)]
pub struct Report {
    pub migrated: Vec<String>,
    pub failed: Vec<(String, String)>,
}

impl Report {
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Migrates `only` (any status, when named) or else every active tenant.
pub async fn migrate_tenants(
    tenancy: &Tenancy,
    only: Option<&str>,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<Report> {
    let tenants: Vec<Tenant> = match only {
        Some(slug) => vec![tenancy.find(slug).await?.ok_or(Error::NotFound("tenant"))?],
        None => tenancy.list_active().await?,
    };
    progress.start(tenants.len());
    let outcomes: Vec<(String, Result<()>)> = stream::iter(tenants)
        .map(|tenant| async move {
            let outcome = tenancy.migrate(&tenant).await;
            progress.done(&tenant.slug, &outcome);
            (tenant.slug, outcome)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut report = Report::default();
    for (slug, outcome) in outcomes {
        match outcome {
            Ok(()) => report.migrated.push(slug),
            Err(e) => report.failed.push((slug, e.to_string())),
        }
    }
    report.migrated.sort();
    report.failed.sort();
    Ok(report)
}
