//! What the pipeline needs from schema tracking, as a trait so the sequencer can be driven
//! by the real tracker (meta snapshot + DDL job stream) or by a fixed set of tables in
//! tests and benchmarks.

use std::sync::Arc;

use crate::event::KvChange;

use crate::schema::{SchemaChange, TableVersion};

/// A DDL job read from `mysql.tidb_ddl_job`, reduced to what ordering needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct JobOrder {
    pub finished_ts: u64,
    pub job_id: i64,
}

/// Schema tracking as the sequencer uses it.
pub trait Schemas: Send + Sync {
    type Job: Send + Sync + std::fmt::Debug;

    /// The DDL job a committed row of the job table carries, when it is a finished job.
    fn job_from_row(&self, row: &KvChange) -> Result<Option<(JobOrder, Self::Job)>, String>;

    /// The table `physical_id` belongs to as of `ts` (callers pass `commit_ts - 1`).
    fn table_at(&self, physical_id: i64, ts: u64) -> Option<Arc<TableVersion>>;

    /// Every table at the latest applied version.
    fn tables(&self) -> Vec<Arc<TableVersion>>;

    /// Applies one finished job, in finished-ts order.
    fn apply(&mut self, job: &Self::Job) -> Result<Vec<SchemaChange>, String>;

    /// Forgets versions no reader at or above `below_ts` needs.
    fn gc(&mut self, below_ts: u64);
}
