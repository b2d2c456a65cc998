//! What one DDL job does to the schema store, worked out before anything changes: the store
//! operations ([`Op`]) and one [`Draft`] of a [`SchemaChange`] per table (or schema) touched.
//!
//! Owns the dispatch from TiDB's [`ActionType`] to one planning function per family of kinds,
//! as TiCDC classic's schema storage handles them (`cdc/entry/schema/snapshot.go`):
//! * `schemas`: CREATE SCHEMA and its charset/collate change from `binlog.DBInfo`; DROP SCHEMA
//!   with every table in it;
//! * `tables`: CREATE TABLE / VIEW and RECOVER TABLE from `binlog.TableInfo`, CREATE TABLES
//!   from `MultipleTableInfos` (one change per table with its own statement), DROP TABLE /
//!   VIEW, and TRUNCATE TABLE and ALTER / REMOVE PARTITIONING, which re-create the table under
//!   its new id;
//! * `rename`: RENAME TABLE and RENAME TABLES move tables between names and schemas, keeping
//!   their ids;
//! * `partition`: partition add / drop / truncate / reorganize replace the partition set;
//!   EXCHANGE PARTITION swaps a partition's id and a table's id between them;
//! * `alter`: any other job with `binlog.TableInfo` (column and index changes, table options)
//!   replaces the table by it; without one it changes nothing.
//!
//! Guarantees: planning only reads the store, so a job that fails to plan (a [`SchemaError`]
//! naming the job and what is wrong) leaves it unchanged.

mod alter;
mod partition;
mod rename;
mod schemas;
mod tables;

use std::collections::BTreeSet;
use std::sync::Arc;

use super::error::SchemaError;
use super::job::DdlJob;
use super::store::SchemaStore;
use super::version::{SchemaChange, TableVersion};
use crate::model::{ActionType, DbInfo, TableInfo};

/// One change to the store's latest versions.
pub(super) enum Op {
    PutSchema(Arc<DbInfo>),
    DropSchema(i64),
    PutTable(Arc<TableVersion>),
    DropTable(i64),
}

/// A [`SchemaChange`] before the job's ids and timestamps are filled in.
pub(super) struct Draft {
    action: ActionType,
    query: String,
    schema: String,
    table: String,
    pre: Option<(String, String)>,
    after: Option<Arc<TableVersion>>,
    before_ids: Vec<i64>,
    after_ids: Vec<i64>,
}

/// The operations of a job, in order, and its changes.
pub(super) type Plan = (Vec<Op>, Vec<Draft>);

/// Plans `job` against the store's latest versions.
pub(super) fn plan(store: &SchemaStore, job: &DdlJob) -> Result<Plan, SchemaError> {
    let p = JobPlan { store, job };
    match job.action {
        ActionType::CREATE_SCHEMA | ActionType::MODIFY_SCHEMA_CHARSET_AND_COLLATE => {
            schemas::put(&p)
        }
        ActionType::DROP_SCHEMA => schemas::drop(&p),
        ActionType::CREATE_TABLE | ActionType::CREATE_VIEW | ActionType::RECOVER_TABLE => {
            tables::create(&p)
        }
        ActionType::CREATE_TABLES => tables::create_many(&p),
        ActionType::DROP_TABLE | ActionType::DROP_VIEW => tables::drop(&p),
        ActionType::TRUNCATE_TABLE
        | ActionType::ALTER_TABLE_PARTITIONING
        | ActionType::REMOVE_PARTITIONING => tables::recreate(&p),
        ActionType::RENAME_TABLE => rename::one(&p),
        ActionType::RENAME_TABLES => rename::many(&p),
        ActionType::ADD_TABLE_PARTITION
        | ActionType::DROP_TABLE_PARTITION
        | ActionType::TRUNCATE_TABLE_PARTITION
        | ActionType::REORGANIZE_PARTITION => partition::replace(&p),
        ActionType::EXCHANGE_TABLE_PARTITION => partition::exchange(&p),
        _ => alter::replace(&p),
    }
}

impl Draft {
    /// The change as the store reports it once `job` is applied.
    pub(super) fn into_change(self, job: &DdlJob) -> SchemaChange {
        let before: BTreeSet<i64> = self.before_ids.iter().copied().collect();
        let after: BTreeSet<i64> = self.after_ids.iter().copied().collect();
        let (pre_schema, pre_table) = match self.pre {
            Some((s, t)) => (Some(s), Some(t)),
            None => (None, None),
        };
        SchemaChange {
            job_id: job.id,
            finished_ts: job.finished_ts,
            start_ts: job.start_ts,
            action: self.action,
            query: self.query,
            schema: self.schema,
            table: self.table,
            pre_schema,
            pre_table,
            table_after: self.after,
            added_physical: after.difference(&before).copied().collect(),
            removed_physical: before.difference(&after).copied().collect(),
        }
    }
}

/// One job being planned against the store: the lookups every family needs, each failing
/// with an error that names the job.
struct JobPlan<'a> {
    store: &'a SchemaStore,
    job: &'a DdlJob,
}

impl JobPlan<'_> {
    /// The job lacks what its kind needs.
    fn invalid(&self, reason: impl Into<String>) -> SchemaError {
        SchemaError::InvalidJob {
            job_id: self.job.id,
            action: self.job.action,
            query: self.job.query.clone(),
            reason: reason.into(),
        }
    }

    /// `binlog.TableInfo`, which the kind requires.
    fn info(&self) -> Result<Arc<TableInfo>, SchemaError> {
        self.job
            .binlog
            .table_info
            .clone()
            .map(Arc::new)
            .ok_or_else(|| self.invalid("binlog.TableInfo is missing"))
    }

    /// The name of schema `schema_id`, which must exist.
    fn schema_name(&self, schema_id: i64) -> Result<Arc<str>, SchemaError> {
        self.store
            .schema(schema_id)
            .map(|d| Arc::from(d.name.o.as_str()))
            .ok_or_else(|| SchemaError::SchemaNotFound {
                job_id: self.job.id,
                query: self.job.query.clone(),
                schema_id,
                finished_ts: self.job.finished_ts,
            })
    }

    /// The latest version of table `table_id`, which must exist.
    fn table(&self, table_id: i64) -> Result<Arc<TableVersion>, SchemaError> {
        self.store
            .latest_table(table_id)
            .ok_or_else(|| SchemaError::TableNotFound {
                job_id: self.job.id,
                query: self.job.query.clone(),
                table_id,
                finished_ts: self.job.finished_ts,
            })
    }

    /// Table id `table_id` must not exist yet.
    fn absent(&self, table_id: i64) -> Result<(), SchemaError> {
        match self.store.latest_table(table_id) {
            Some(t) => Err(SchemaError::TableExists {
                job_id: self.job.id,
                query: self.job.query.clone(),
                table_id,
                existing: t.qualified_name(),
            }),
            None => Ok(()),
        }
    }

    /// `info` in schema `schema_id`/`schema` as of the job.
    fn version(&self, schema_id: i64, schema: Arc<str>, info: Arc<TableInfo>) -> Arc<TableVersion> {
        Arc::new(TableVersion::new(
            schema_id,
            schema,
            info,
            self.job.finished_ts,
        ))
    }

    /// A change of kind `action` by `query`, leaving `schema`.`table`; `pre` is the table
    /// before it, `after` the table after it.
    fn draft(
        &self,
        action: ActionType,
        query: String,
        schema: &str,
        table: &str,
        pre: Option<&TableVersion>,
        after: Option<Arc<TableVersion>>,
    ) -> Draft {
        Draft {
            action,
            query,
            schema: schema.to_owned(),
            table: table.to_owned(),
            pre: pre.map(|p| (p.schema.to_string(), p.table.to_string())),
            before_ids: pre.map(|p| p.physical_ids.clone()).unwrap_or_default(),
            after_ids: after
                .as_ref()
                .map(|a| a.physical_ids.clone())
                .unwrap_or_default(),
            after,
        }
    }

    /// The job's own change, by its own statement, from `pre` (if any) to `after`.
    fn changed(&self, pre: Option<&TableVersion>, after: Arc<TableVersion>) -> Draft {
        self.draft(
            self.job.action,
            self.job.query.clone(),
            &after.schema,
            &after.table,
            pre,
            Some(after.clone()),
        )
    }

    /// The job puts `after` in place of `pre` (if any), as its one change.
    fn put_table(&self, pre: Option<&TableVersion>, after: Arc<TableVersion>) -> Plan {
        let d = self.changed(pre, after.clone());
        (vec![Op::PutTable(after)], vec![d])
    }
}
