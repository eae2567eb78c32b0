//! Counts behind the status gauges. Each is one GROUP BY over an index that starts with `status`
//! (`policies_status`, `claims_status`), so the database reads the index, not the table.

use crate::{
    platform::db::{self, Sql},
    platform::error::Result,
};

/// Rows per stored status of `policies` or `claims`.
pub async fn by_status(sql: &mut Sql<'_>, table: StatusTable) -> Result<Vec<(String, i64)>> {
    let q = match table {
        StatusTable::Policies => "SELECT status, COUNT(*) FROM policies GROUP BY status",
        StatusTable::Claims => "SELECT status, COUNT(*) FROM claims GROUP BY status",
    };
    sql.all(db::query_as::<(String, i64)>(q)).await
}

#[derive(Clone, Copy, Debug)]
pub enum StatusTable {
    Policies,
    Claims,
}
