//! Whole-table DDL: CREATE TABLE / VIEW, RECOVER TABLE, CREATE TABLES, DROP TABLE / VIEW, and
//! the kinds that re-create a table under a new id (TRUNCATE TABLE, ALTER / REMOVE
//! PARTITIONING).
//!
//! Guarantees: a created table id must not exist yet and its schema must; CREATE TABLES gives
//! one change per table with its own statement and refuses a job whose statements and tables
//! do not pair up; a dropped table takes its physical ids with it, and its change carries the
//! statement TiCDC rebuilds for it.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{JobPlan, Op, Plan};
use crate::model::ActionType;
use crate::schema::error::SchemaError;
use crate::schema::query::{drop_query, split_queries};

/// CREATE TABLE, CREATE VIEW, RECOVER TABLE: the table is `binlog.TableInfo`.
pub(super) fn create(p: &JobPlan<'_>) -> Result<Plan, SchemaError> {
    let job = p.job;
    let info = p.info()?;
    let schema = p.schema_name(job.schema_id)?;
    p.absent(info.id)?;
    let tv = p.version(job.schema_id, schema, info);
    Ok(p.put_table(None, tv))
}

/// CREATE TABLES: one table per `MultipleTableInfos` entry, each with its own statement.
pub(super) fn create_many(p: &JobPlan<'_>) -> Result<Plan, SchemaError> {
    let job = p.job;
    let infos = &job.binlog.multiple_table_infos;
    let queries = split_queries(&job.query);
    if infos.is_empty() || queries.len() != infos.len() {
        return Err(p.invalid(format!(
            "{} statements in the query for {} tables in binlog.MultipleTableInfos",
            queries.len(),
            infos.len()
        )));
    }
    let schema = p.schema_name(job.schema_id)?;
    let mut seen = BTreeSet::new();
    let mut ops = Vec::new();
    let mut drafts = Vec::new();
    for (info, q) in infos.iter().zip(queries) {
        p.absent(info.id)?;
        if !seen.insert(info.id) {
            return Err(p.invalid(format!("table id {} created twice", info.id)));
        }
        let tv = p.version(job.schema_id, schema.clone(), Arc::new(info.clone()));
        drafts.push(p.draft(job.action, q, &schema, &tv.table, None, Some(tv.clone())));
        ops.push(Op::PutTable(tv));
    }
    Ok((ops, drafts))
}

/// DROP TABLE, DROP VIEW.
pub(super) fn drop(p: &JobPlan<'_>) -> Result<Plan, SchemaError> {
    let job = p.job;
    let old = p.table(job.table_id)?;
    let q = drop_query(job.action == ActionType::DROP_VIEW, &old.schema, &old.table);
    let d = p.draft(job.action, q, &old.schema, &old.table, Some(&old), None);
    Ok((vec![Op::DropTable(old.table_id)], vec![d]))
}

/// TRUNCATE TABLE, ALTER TABLE … PARTITION BY, REMOVE PARTITIONING: the table is dropped and
/// `binlog.TableInfo` (under its new id) takes its place.
pub(super) fn recreate(p: &JobPlan<'_>) -> Result<Plan, SchemaError> {
    let job = p.job;
    let old = p.table(job.table_id)?;
    let info = p.info()?;
    let schema = p.schema_name(job.schema_id)?;
    if info.id != old.table_id {
        p.absent(info.id)?;
    }
    let tv = p.version(job.schema_id, schema, info);
    let d = p.changed(Some(&old), tv.clone());
    Ok((vec![Op::DropTable(old.table_id), Op::PutTable(tv)], vec![d]))
}
