//! RENAME TABLE and RENAME TABLES: tables move between names and schemas, keeping their ids.
//!
//! Guarantees, as TiCDC: a table renamed into a schema the store does not know is only
//! dropped; RENAME TABLES gives one RENAME TABLE change per table, with the statement rebuilt
//! for it and the old schema name its job arguments give.

use std::sync::Arc;

use super::{JobPlan, Op, Plan};
use crate::model::ActionType;
use crate::schema::error::SchemaError;
use crate::schema::query::{rename_query, rename_tables_args};

/// RENAME TABLE: the table is `binlog.TableInfo` in the job's schema.
pub(super) fn one(p: &JobPlan<'_>) -> Result<Plan, SchemaError> {
    let job = p.job;
    let old = p.table(job.table_id)?;
    let info = p.info()?;
    let mut ops = vec![Op::DropTable(old.table_id)];
    // As TiCDC: renamed into a schema it does not know, the table is only dropped.
    let (schema, tv) = match p.store.schema(job.schema_id) {
        Some(db) => {
            let name: Arc<str> = Arc::from(db.name.o.as_str());
            let tv = p.version(job.schema_id, name.clone(), info);
            ops.push(Op::PutTable(tv.clone()));
            (name.to_string(), Some(tv))
        }
        None => (job.schema_name.clone(), None),
    };
    let table = job
        .binlog
        .table_info
        .as_ref()
        .map(|i| i.name.o.clone())
        .unwrap_or_default();
    let d = p.draft(
        job.action,
        job.query.clone(),
        &schema,
        &table,
        Some(&old),
        tv,
    );
    Ok((ops, vec![d]))
}

/// RENAME TABLES: each `MultipleTableInfos` entry paired with its `raw_args` rename.
pub(super) fn many(p: &JobPlan<'_>) -> Result<Plan, SchemaError> {
    let job = p.job;
    let infos = &job.binlog.multiple_table_infos;
    let args = job
        .raw_args
        .as_ref()
        .and_then(rename_tables_args)
        .ok_or_else(|| p.invalid("raw_args do not hold RENAME TABLES arguments"))?;
    if infos.is_empty() || args.len() != infos.len() {
        return Err(p.invalid(format!(
            "{} renames in raw_args for {} tables in binlog.MultipleTableInfos",
            args.len(),
            infos.len()
        )));
    }
    let mut ops = Vec::new();
    let mut drafts = Vec::new();
    for (info, arg) in infos.iter().zip(args) {
        let old = p.table(info.id)?;
        let schema = p.schema_name(arg.new_schema_id)?;
        let old_schema = arg
            .old_schema_name
            .unwrap_or_else(|| old.schema.to_string());
        let tv = p.version(arg.new_schema_id, schema.clone(), Arc::new(info.clone()));
        let q = rename_query(&old_schema, &old.table, &schema, &tv.table);
        let mut d = p.draft(
            ActionType::RENAME_TABLE,
            q,
            &schema,
            &tv.table,
            Some(&old),
            Some(tv.clone()),
        );
        d.pre = Some((old_schema, old.table.to_string()));
        drafts.push(d);
        ops.push(Op::PutTable(tv));
    }
    Ok((ops, drafts))
}
