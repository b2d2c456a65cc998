//! The multi-version schema store: every table's definition as of any ts since the meta
//! snapshot, advanced by DDL jobs.
//!
//! Owns the versions of schemas, tables (by logical id) and physical ids (table or partition
//! ids, as row keys carry them). Built from a [`MetaSnapshot`] at ts `S`, then
//! [`SchemaStore::apply`] takes finished DDL jobs in finished-ts order, as TiCDC classic's
//! schema storage does (`cdc/entry/schema/snapshot.go`). Guarantees:
//! * [`SchemaStore::table_at`]`(id, ts)` is the table `id` belonged to after every job with
//!   finished ts ≤ `ts` (the pipeline passes `commit_ts − 1`, so a row committed in the same
//!   ts as a DDL decodes with the schema before it); snapshot versions answer every ts ≤ `S`;
//! * a job already applied (same id) is ignored, as is a job at or below the snapshot ts (it
//!   is in the snapshot); a job below the newest applied one is an error, never a silent
//!   rewrite of history; a job that fails leaves the store unchanged;
//! * per job kind: schemas from `binlog.DBInfo`; create/recover table, create view from
//!   `binlog.TableInfo`; CREATE TABLES from `MultipleTableInfos`, one change per table with its
//!   own statement; drop removes the table and its physical ids; truncate replaces the table
//!   by its new id; RENAME TABLE(S) moves tables between names/schemas, keeping ids;
//!   partition add/drop/truncate/reorganize replace the partition set; EXCHANGE PARTITION
//!   swaps the partition's id and the table's id between them; ALTER/REMOVE PARTITIONING
//!   re-creates the table under its new id; any other job with `binlog.TableInfo` replaces
//!   the table by it; jobs TiDB marks as ignored (`SchemaVersion` 0) change nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::db_info::DbInfo;
use super::error::SchemaError;
use super::history::History;
use super::job::{DdlJob, JOB_STATE_DONE, action};
use super::query::{drop_query, exchange_query, rename_query, rename_tables_args, split_queries};
use super::snapshot::MetaSnapshot;
use super::table_info::TableInfo;
use super::version::{SchemaChange, TableVersion};

pub use super::job::ddl_job_span;

/// Versions of every schema and table.
#[derive(Debug, Clone)]
pub struct SchemaStore {
    snapshot_ts: u64,
    /// Jobs finished at or below this are already reflected (snapshot, or collected history).
    floor_ts: u64,
    /// Finished ts of the newest applied job (the snapshot ts before any).
    last_ts: u64,
    schemas: HashMap<i64, History<Arc<DbInfo>>>,
    tables: BTreeMap<i64, History<Arc<TableVersion>>>,
    physical: HashMap<i64, History<Arc<TableVersion>>>,
    /// Applied job id → finished ts.
    applied: HashMap<i64, u64>,
}

enum Op {
    PutSchema(Arc<DbInfo>),
    DropSchema(i64),
    PutTable(Arc<TableVersion>),
    DropTable(i64),
}

struct Draft {
    action: u8,
    query: String,
    schema: String,
    table: String,
    pre: Option<(String, String)>,
    after: Option<Arc<TableVersion>>,
    before_ids: Vec<i64>,
    after_ids: Vec<i64>,
}

type Plan = (Vec<Op>, Vec<Draft>);

impl SchemaStore {
    /// A store holding `databases` and `tables` (schema id, TableInfo) as of `ts`. Tables of
    /// an unknown schema are skipped with a warning.
    pub fn new(ts: u64, databases: Vec<DbInfo>, tables: Vec<(i64, TableInfo)>) -> SchemaStore {
        let mut s = SchemaStore {
            snapshot_ts: ts,
            floor_ts: ts,
            last_ts: ts,
            schemas: HashMap::new(),
            tables: BTreeMap::new(),
            physical: HashMap::new(),
            applied: HashMap::new(),
        };
        let mut names: HashMap<i64, Arc<str>> = HashMap::new();
        for db in databases {
            names.insert(db.id, Arc::from(db.name.o.as_str()));
            s.schemas
                .entry(db.id)
                .or_insert_with(History::new)
                .set(0, Some(Arc::new(db)));
        }
        let mut ops = Vec::new();
        for (schema_id, info) in tables {
            match names.get(&schema_id) {
                Some(name) => ops.push(Op::PutTable(Arc::new(TableVersion::new(
                    schema_id,
                    name.clone(),
                    Arc::new(info),
                    ts,
                )))),
                None => tracing::warn!(
                    table_id = info.id,
                    table = %info.name.o,
                    schema_id,
                    "meta snapshot: table of an unknown schema skipped"
                ),
            }
        }
        // Snapshot versions answer every ts up to the snapshot: they are stored at ts 0.
        s.commit(ops, 0);
        s
    }

    /// The store of a meta snapshot.
    pub fn from_snapshot(snapshot: &MetaSnapshot) -> SchemaStore {
        SchemaStore::new(
            snapshot.ts,
            snapshot.databases.clone(),
            snapshot
                .tables
                .iter()
                .map(|t| (t.schema_id, t.info.clone()))
                .collect(),
        )
    }

    /// The snapshot's ts.
    pub fn snapshot_ts(&self) -> u64 {
        self.snapshot_ts
    }

    /// Finished ts of the newest applied job (the snapshot ts before any).
    pub fn last_ts(&self) -> u64 {
        self.last_ts
    }

    /// The table physical id `physical_id` (a table id or a partition id; a partitioned
    /// table's logical id also answers) belonged to as of `ts`; `None` if it did not exist
    /// then or was dropped.
    pub fn table_at(&self, physical_id: i64, ts: u64) -> Option<Arc<TableVersion>> {
        match self.physical.get(&physical_id) {
            Some(h) => h.at(ts).cloned(),
            None => self
                .tables
                .get(&physical_id)
                .and_then(|h| h.at(ts))
                .cloned(),
        }
    }

    /// Tables existing at the latest applied version, by table id, without system schemas,
    /// views and sequences (nothing of theirs is replicated).
    pub fn tables(&self) -> Vec<Arc<TableVersion>> {
        self.tables
            .values()
            .filter_map(History::latest)
            .filter(|t| !t.is_system() && !t.is_view_or_sequence())
            .cloned()
            .collect()
    }

    /// Every table at the latest version, system schemas, views and sequences included.
    pub fn all_tables(&self) -> Vec<Arc<TableVersion>> {
        self.tables
            .values()
            .filter_map(History::latest)
            .cloned()
            .collect()
    }

    /// A schema's latest definition.
    pub fn schema(&self, schema_id: i64) -> Option<Arc<DbInfo>> {
        self.schemas
            .get(&schema_id)
            .and_then(History::latest)
            .cloned()
    }

    /// Applies a finished DDL job (jobs must come in finished-ts order). Returns one change
    /// per table it touched (per schema for schema DDLs); nothing for a duplicate, a job
    /// already in the snapshot, a job not done, or a job TiDB marked as ignored.
    pub fn apply(&mut self, job: &DdlJob) -> Result<Vec<SchemaChange>, SchemaError> {
        let ts = job.finished_ts;
        if self.applied.contains_key(&job.id) {
            tracing::debug!(
                job_id = job.id,
                "DDL job already applied; duplicate ignored"
            );
            return Ok(Vec::new());
        }
        if ts <= self.floor_ts {
            tracing::info!(
                job_id = job.id,
                finished_ts = ts,
                floor_ts = self.floor_ts,
                "DDL job at or below the schema snapshot; already reflected"
            );
            return Ok(Vec::new());
        }
        if ts < self.last_ts {
            return Err(SchemaError::OutOfOrder {
                job_id: job.id,
                finished_ts: ts,
                last_ts: self.last_ts,
            });
        }
        if job.state != JOB_STATE_DONE || job.binlog.schema_version == 0 {
            tracing::info!(job_id = job.id, query = %job.query, "DDL job not done or ignored by TiDB");
            return Ok(Vec::new());
        }
        let (ops, drafts) = self.plan(job)?;
        self.commit(ops, ts);
        self.applied.insert(job.id, ts);
        self.last_ts = ts;
        Ok(drafts
            .into_iter()
            .map(|d| {
                let before: BTreeSet<i64> = d.before_ids.iter().copied().collect();
                let after: BTreeSet<i64> = d.after_ids.iter().copied().collect();
                let (pre_schema, pre_table) = match d.pre {
                    Some((s, t)) => (Some(s), Some(t)),
                    None => (None, None),
                };
                SchemaChange {
                    job_id: job.id,
                    finished_ts: ts,
                    start_ts: job.start_ts,
                    action: d.action,
                    query: d.query,
                    schema: d.schema,
                    table: d.table,
                    pre_schema,
                    pre_table,
                    table_after: d.after,
                    added_physical: after.difference(&before).copied().collect(),
                    removed_physical: before.difference(&after).copied().collect(),
                }
            })
            .collect())
    }

    /// Drops versions no reader at ts ≥ `below_ts` can need. Jobs finished at or below
    /// `min(below_ts, last applied)` are from then on treated as already applied.
    pub fn gc(&mut self, below_ts: u64) {
        self.schemas.retain(|_, h| !h.gc(below_ts));
        self.tables.retain(|_, h| !h.gc(below_ts));
        self.physical.retain(|_, h| !h.gc(below_ts));
        let floor = below_ts.min(self.last_ts);
        self.floor_ts = self.floor_ts.max(floor);
        let f = self.floor_ts;
        self.applied.retain(|_, t| *t > f);
    }

    fn commit(&mut self, ops: Vec<Op>, ts: u64) {
        for op in ops {
            match op {
                Op::PutSchema(db) => self
                    .schemas
                    .entry(db.id)
                    .or_insert_with(History::new)
                    .set(ts, Some(db)),
                Op::DropSchema(id) => self
                    .schemas
                    .entry(id)
                    .or_insert_with(History::new)
                    .set(ts, None),
                Op::PutTable(tv) => {
                    let h = self.tables.entry(tv.table_id).or_insert_with(History::new);
                    let old = h.latest().cloned();
                    h.set(ts, Some(tv.clone()));
                    if let Some(old) = old {
                        for id in old
                            .physical_ids
                            .iter()
                            .filter(|i| !tv.physical_ids.contains(i))
                        {
                            self.unmap(*id, old.table_id, ts);
                        }
                    }
                    for id in &tv.physical_ids {
                        self.physical
                            .entry(*id)
                            .or_insert_with(History::new)
                            .set(ts, Some(tv.clone()));
                    }
                }
                Op::DropTable(table_id) => {
                    let h = self.tables.entry(table_id).or_insert_with(History::new);
                    let old = h.latest().cloned();
                    h.set(ts, None);
                    for id in old.iter().flat_map(|o| o.physical_ids.iter()) {
                        self.unmap(*id, table_id, ts);
                    }
                }
            }
        }
    }

    /// Marks physical id `id` gone from `ts` on, if it still belongs to `table_id`.
    fn unmap(&mut self, id: i64, table_id: i64, ts: u64) {
        if let Some(h) = self.physical.get_mut(&id)
            && h.latest().is_some_and(|t| t.table_id == table_id)
        {
            h.set(ts, None);
        }
    }

    fn schema_name(&self, job: &DdlJob, schema_id: i64) -> Result<Arc<str>, SchemaError> {
        self.schema(schema_id)
            .map(|d| Arc::from(d.name.o.as_str()))
            .ok_or_else(|| SchemaError::SchemaNotFound {
                job_id: job.id,
                query: job.query.clone(),
                schema_id,
                finished_ts: job.finished_ts,
            })
    }

    fn table(&self, job: &DdlJob, table_id: i64) -> Result<Arc<TableVersion>, SchemaError> {
        self.tables
            .get(&table_id)
            .and_then(History::latest)
            .cloned()
            .ok_or_else(|| SchemaError::TableNotFound {
                job_id: job.id,
                query: job.query.clone(),
                table_id,
                finished_ts: job.finished_ts,
            })
    }

    fn absent(&self, job: &DdlJob, table_id: i64) -> Result<(), SchemaError> {
        match self.tables.get(&table_id).and_then(History::latest) {
            Some(t) => Err(SchemaError::TableExists {
                job_id: job.id,
                query: job.query.clone(),
                table_id,
                existing: t.qualified_name(),
            }),
            None => Ok(()),
        }
    }

    fn plan(&self, job: &DdlJob) -> Result<Plan, SchemaError> {
        let invalid = |reason: &str| SchemaError::InvalidJob {
            job_id: job.id,
            action: job.action,
            query: job.query.clone(),
            reason: reason.to_owned(),
        };
        let ts = job.finished_ts;
        let info = || {
            job.binlog
                .table_info
                .clone()
                .map(Arc::new)
                .ok_or_else(|| invalid("binlog.TableInfo is missing"))
        };
        let draft = |d_action: u8,
                     query: String,
                     schema: &str,
                     table: &str,
                     pre: Option<&TableVersion>,
                     after: Option<Arc<TableVersion>>| Draft {
            action: d_action,
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
        };
        let a = job.action;
        Ok(match a {
            action::CREATE_SCHEMA | action::MODIFY_SCHEMA_CHARSET_AND_COLLATE => {
                let db = job
                    .binlog
                    .db_info
                    .clone()
                    .ok_or_else(|| invalid("binlog.DBInfo is missing"))?;
                if a == action::MODIFY_SCHEMA_CHARSET_AND_COLLATE {
                    self.schema_name(job, db.id)?;
                }
                let name = db.name.o.clone();
                (
                    vec![Op::PutSchema(Arc::new(db))],
                    vec![draft(a, job.query.clone(), &name, "", None, None)],
                )
            }
            action::DROP_SCHEMA => {
                let name = self.schema_name(job, job.schema_id)?;
                let dropped: Vec<&Arc<TableVersion>> = self
                    .tables
                    .values()
                    .filter_map(History::latest)
                    .filter(|t| t.schema_id == job.schema_id)
                    .collect();
                let mut d = draft(a, job.query.clone(), &name, "", None, None);
                d.before_ids = dropped
                    .iter()
                    .flat_map(|t| t.physical_ids.clone())
                    .collect();
                let mut ops: Vec<Op> = dropped.iter().map(|t| Op::DropTable(t.table_id)).collect();
                ops.push(Op::DropSchema(job.schema_id));
                (ops, vec![d])
            }
            action::CREATE_TABLE | action::CREATE_VIEW | action::RECOVER_TABLE => {
                let info = info()?;
                let schema = self.schema_name(job, job.schema_id)?;
                self.absent(job, info.id)?;
                let tv = Arc::new(TableVersion::new(job.schema_id, schema.clone(), info, ts));
                let d = draft(
                    a,
                    job.query.clone(),
                    &schema,
                    &tv.table,
                    None,
                    Some(tv.clone()),
                );
                (vec![Op::PutTable(tv)], vec![d])
            }
            action::CREATE_TABLES => {
                let infos = &job.binlog.multiple_table_infos;
                let queries = split_queries(&job.query);
                if infos.is_empty() || queries.len() != infos.len() {
                    return Err(invalid(&format!(
                        "{} statements in the query for {} tables in binlog.MultipleTableInfos",
                        queries.len(),
                        infos.len()
                    )));
                }
                let schema = self.schema_name(job, job.schema_id)?;
                let mut seen = BTreeSet::new();
                let mut ops = Vec::new();
                let mut drafts = Vec::new();
                for (info, q) in infos.iter().zip(queries) {
                    self.absent(job, info.id)?;
                    if !seen.insert(info.id) {
                        return Err(invalid(&format!("table id {} created twice", info.id)));
                    }
                    let tv = Arc::new(TableVersion::new(
                        job.schema_id,
                        schema.clone(),
                        Arc::new(info.clone()),
                        ts,
                    ));
                    drafts.push(draft(a, q, &schema, &tv.table, None, Some(tv.clone())));
                    ops.push(Op::PutTable(tv));
                }
                (ops, drafts)
            }
            action::DROP_TABLE | action::DROP_VIEW => {
                let old = self.table(job, job.table_id)?;
                let q = drop_query(a == action::DROP_VIEW, &old.schema, &old.table);
                let d = draft(a, q, &old.schema, &old.table, Some(&old), None);
                (vec![Op::DropTable(old.table_id)], vec![d])
            }
            action::TRUNCATE_TABLE
            | action::ALTER_TABLE_PARTITIONING
            | action::REMOVE_PARTITIONING => {
                let old = self.table(job, job.table_id)?;
                let info = info()?;
                let schema = self.schema_name(job, job.schema_id)?;
                if info.id != old.table_id {
                    self.absent(job, info.id)?;
                }
                let tv = Arc::new(TableVersion::new(job.schema_id, schema.clone(), info, ts));
                let d = draft(
                    a,
                    job.query.clone(),
                    &schema,
                    &tv.table,
                    Some(&old),
                    Some(tv.clone()),
                );
                (vec![Op::DropTable(old.table_id), Op::PutTable(tv)], vec![d])
            }
            action::RENAME_TABLE => {
                let old = self.table(job, job.table_id)?;
                let info = info()?;
                let mut ops = vec![Op::DropTable(old.table_id)];
                // As TiCDC: renamed into a schema it does not know, the table is only dropped.
                let (schema, tv) = match self.schema(job.schema_id) {
                    Some(db) => {
                        let name: Arc<str> = Arc::from(db.name.o.as_str());
                        let tv = Arc::new(TableVersion::new(job.schema_id, name.clone(), info, ts));
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
                let d = draft(a, job.query.clone(), &schema, &table, Some(&old), tv);
                (ops, vec![d])
            }
            action::RENAME_TABLES => {
                let infos = &job.binlog.multiple_table_infos;
                let args = job
                    .raw_args
                    .as_ref()
                    .and_then(rename_tables_args)
                    .ok_or_else(|| invalid("raw_args do not hold RENAME TABLES arguments"))?;
                if infos.is_empty() || args.len() != infos.len() {
                    return Err(invalid(&format!(
                        "{} renames in raw_args for {} tables in binlog.MultipleTableInfos",
                        args.len(),
                        infos.len()
                    )));
                }
                let mut ops = Vec::new();
                let mut drafts = Vec::new();
                for (info, arg) in infos.iter().zip(args) {
                    let old = self.table(job, info.id)?;
                    let schema = self.schema_name(job, arg.new_schema_id)?;
                    let old_schema = arg
                        .old_schema_name
                        .unwrap_or_else(|| old.schema.to_string());
                    let tv = Arc::new(TableVersion::new(
                        arg.new_schema_id,
                        schema.clone(),
                        Arc::new(info.clone()),
                        ts,
                    ));
                    let q = rename_query(&old_schema, &old.table, &schema, &tv.table);
                    let mut d = draft(
                        action::RENAME_TABLE,
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
                (ops, drafts)
            }
            action::ADD_TABLE_PARTITION
            | action::DROP_TABLE_PARTITION
            | action::TRUNCATE_TABLE_PARTITION
            | action::REORGANIZE_PARTITION => {
                let info = info()?;
                let old = self.table(job, info.id)?;
                if !old.is_partitioned() || info.partition_info().is_none() {
                    return Err(invalid(&format!("table {} is not partitioned", info.id)));
                }
                let tv = Arc::new(TableVersion::new(
                    old.schema_id,
                    old.schema.clone(),
                    info,
                    ts,
                ));
                let d = draft(
                    a,
                    job.query.clone(),
                    &old.schema,
                    &tv.table,
                    Some(&old),
                    Some(tv.clone()),
                );
                (vec![Op::PutTable(tv)], vec![d])
            }
            action::EXCHANGE_TABLE_PARTITION => self.plan_exchange(job, info()?)?,
            _ => match &job.binlog.table_info {
                Some(_) => {
                    let info = info()?;
                    let old = self.table(job, info.id)?;
                    let schema = self.schema_name(job, job.schema_id)?;
                    let tv = Arc::new(TableVersion::new(job.schema_id, schema.clone(), info, ts));
                    let d = draft(
                        a,
                        job.query.clone(),
                        &schema,
                        &tv.table,
                        Some(&old),
                        Some(tv.clone()),
                    );
                    (vec![Op::PutTable(tv)], vec![d])
                }
                None => {
                    tracing::info!(job_id = job.id, action = a, query = %job.query,
                        "DDL job without binlog.TableInfo changes no table");
                    (Vec::new(), Vec::new())
                }
            },
        })
    }

    /// EXCHANGE PARTITION: `info` is the partitioned table after the job; the partition it
    /// lost becomes the id of the non-partitioned table (`job.table_id`), whose old id becomes
    /// the new partition (TiCDC `exchangePartition`).
    fn plan_exchange(&self, job: &DdlJob, info: Arc<TableInfo>) -> Result<Plan, SchemaError> {
        let invalid = |reason: String| SchemaError::InvalidJob {
            job_id: job.id,
            action: job.action,
            query: job.query.clone(),
            reason,
        };
        let ts = job.finished_ts;
        let pt = self.table(job, info.id)?;
        if !pt.is_partitioned() || info.partition_info().is_none() {
            return Err(invalid(format!("table {} is not partitioned", info.id)));
        }
        let new_ids = super::version::physical_ids(&info);
        let gained: Vec<i64> = new_ids
            .iter()
            .filter(|i| !pt.physical_ids.contains(i))
            .copied()
            .collect();
        let lost: Vec<i64> = pt
            .physical_ids
            .iter()
            .filter(|i| !new_ids.contains(i))
            .copied()
            .collect();
        let (&[normal_id], &[partition_id]) = (gained.as_slice(), lost.as_slice()) else {
            return Err(invalid(format!(
                "partitions gained {gained:?} and lost {lost:?}; exactly one of each expected"
            )));
        };
        let normal = self.table(job, normal_id)?;
        // The job's schema id is the non-partitioned table's; keep the partitioned table's own.
        let pt_after = Arc::new(TableVersion::new(pt.schema_id, pt.schema.clone(), info, ts));
        let mut moved = (*normal.info).clone();
        moved.id = partition_id;
        let normal_after = Arc::new(TableVersion::new(
            normal.schema_id,
            normal.schema.clone(),
            Arc::new(moved),
            ts,
        ));
        let q = exchange_query(
            &job.query,
            &pt.schema,
            &pt.table,
            &normal.schema,
            &normal.table,
        );
        let mut before_ids = pt.physical_ids.clone();
        before_ids.push(normal_id);
        let mut after_ids = pt_after.physical_ids.clone();
        after_ids.push(partition_id);
        let d = Draft {
            action: job.action,
            query: q,
            schema: pt.schema.to_string(),
            table: pt.table.to_string(),
            pre: Some((normal.schema.to_string(), normal.table.to_string())),
            after: Some(pt_after.clone()),
            before_ids,
            after_ids,
        };
        Ok((
            vec![
                Op::DropTable(normal_id),
                Op::PutTable(pt_after),
                Op::PutTable(normal_after),
            ],
            vec![d],
        ))
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
