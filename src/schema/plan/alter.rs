//! Every other DDL kind (column and index changes, table options, multi-schema changes):
//! the job's `binlog.TableInfo` replaces the table.
//!
//! Guarantees: the table must exist; a job of such a kind without `binlog.TableInfo` changes
//! nothing and is logged.

use super::{JobPlan, Plan};
use crate::schema::error::SchemaError;

/// Replaces the table by `binlog.TableInfo`, or does nothing without one.
pub(super) fn replace(p: &JobPlan<'_>) -> Result<Plan, SchemaError> {
    let job = p.job;
    if job.binlog.table_info.is_none() {
        tracing::info!(job_id = job.id, action = job.action.0, query = %job.query,
            "DDL job without binlog.TableInfo changes no table");
        return Ok((Vec::new(), Vec::new()));
    }
    let info = p.info()?;
    let old = p.table(info.id)?;
    let schema = p.schema_name(job.schema_id)?;
    let tv = p.version(job.schema_id, schema, info);
    Ok(p.put_table(Some(&old), tv))
}
