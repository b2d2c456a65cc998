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
//! * what each job kind does to the store is planned in `plan` (one function per family of
//!   DDL kinds); jobs TiDB marks as ignored (`SchemaVersion` 0) change nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::error::SchemaError;
use super::history::History;
use super::job::{DdlJob, JOB_STATE_DONE};
use super::plan::{Op, plan};
use super::version::{SchemaChange, TableVersion};
use crate::model::{DbInfo, MetaSnapshot, TableInfo};

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

    /// A table's latest version by table id, system schemas, views and sequences included.
    pub(super) fn latest_table(&self, table_id: i64) -> Option<Arc<TableVersion>> {
        self.tables
            .get(&table_id)
            .and_then(History::latest)
            .cloned()
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
        let (ops, drafts) = plan(self, job)?;
        self.commit(ops, ts);
        self.applied.insert(job.id, ts);
        self.last_ts = ts;
        Ok(drafts.into_iter().map(|d| d.into_change(job)).collect())
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
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
