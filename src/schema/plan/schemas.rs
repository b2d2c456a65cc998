//! Schema-level DDL: CREATE SCHEMA, ALTER SCHEMA charset/collate, DROP SCHEMA.
//!
//! Guarantees: a created or altered schema is `binlog.DBInfo` as the job left it (an altered
//! one must exist); a dropped schema drops every table in it, and its one change reports all
//! their physical ids as removed.

use std::sync::Arc;

use super::{JobPlan, Op, Plan};
use crate::model::ActionType;
use crate::schema::error::SchemaError;

/// CREATE SCHEMA, or ALTER SCHEMA's charset/collate: the schema is `binlog.DBInfo`.
pub(super) fn put(p: &JobPlan<'_>) -> Result<Plan, SchemaError> {
    let job = p.job;
    let db = job
        .binlog
        .db_info
        .clone()
        .ok_or_else(|| p.invalid("binlog.DBInfo is missing"))?;
    if job.action == ActionType::MODIFY_SCHEMA_CHARSET_AND_COLLATE {
        p.schema_name(db.id)?;
    }
    let name = db.name.o.clone();
    Ok((
        vec![Op::PutSchema(Arc::new(db))],
        vec![p.draft(job.action, job.query.clone(), &name, "", None, None)],
    ))
}

/// DROP SCHEMA: the schema and every table in it.
pub(super) fn drop(p: &JobPlan<'_>) -> Result<Plan, SchemaError> {
    let job = p.job;
    let name = p.schema_name(job.schema_id)?;
    let dropped: Vec<_> = p
        .store
        .all_tables()
        .into_iter()
        .filter(|t| t.schema_id == job.schema_id)
        .collect();
    let mut d = p.draft(job.action, job.query.clone(), &name, "", None, None);
    d.before_ids = dropped
        .iter()
        .flat_map(|t| t.physical_ids.clone())
        .collect();
    let mut ops: Vec<Op> = dropped.iter().map(|t| Op::DropTable(t.table_id)).collect();
    ops.push(Op::DropSchema(job.schema_id));
    Ok((ops, vec![d]))
}
