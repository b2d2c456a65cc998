//! The production schema source: a snapshot of TiDB's meta keys at the start ts read from
//! TiKV, then the DDL jobs of `mysql.tidb_ddl_job` as the CDC feed delivers them
//! ([`crate::schema`] does the work; this adapts it to [`Schemas`]).

use std::sync::Arc;

use crate::codec::BoxFuture;
use crate::event::KvChange;
use crate::schema::{DdlJob, JobDecoder, SchemaStore};
use crate::upstream::pd::PdClient;
use crate::upstream::snapshot::{SnapshotOptions, read_meta};

use super::SchemaSource;
use super::error::PipelineError;
use super::schemas::{JobOrder, Schemas};
use crate::schema::{SchemaChange, TableVersion};

/// Reads the schema from TiKV.
#[derive(Debug, Default, Clone)]
pub struct TikvSchemaSource {
    pub options: SnapshotOptions,
}

/// The schema store and the job decoder of one pipeline run.
#[derive(Debug)]
pub struct SchemaTracker {
    store: SchemaStore,
    jobs: JobDecoder,
}

impl SchemaSource for TikvSchemaSource {
    type S = SchemaTracker;

    fn load<'a>(
        &'a self,
        pd: &'a PdClient,
        _pd_endpoints: &'a [String],
        ts: u64,
    ) -> BoxFuture<'a, Result<SchemaTracker, PipelineError>> {
        Box::pin(async move {
            let snapshot = read_meta(pd, ts, &self.options)
                .await
                .map_err(|e| PipelineError::Snapshot(e.to_string()))?;
            tracing::info!(
                ts,
                databases = snapshot.databases.len(),
                tables = snapshot.tables.len(),
                "schema snapshot read"
            );
            Ok(SchemaTracker {
                jobs: JobDecoder::from_snapshot(&snapshot),
                store: SchemaStore::from_snapshot(&snapshot),
            })
        })
    }
}

impl Schemas for SchemaTracker {
    type Job = DdlJob;

    fn job_from_row(&self, row: &KvChange) -> Result<Option<(JobOrder, DdlJob)>, String> {
        let job = self
            .jobs
            .decode(&row.key, &row.value, row.op, row.start_ts, row.commit_ts)
            .map_err(|e| e.to_string())?;
        Ok(job.map(|j| {
            (
                JobOrder {
                    finished_ts: j.finished_ts,
                    job_id: j.id,
                },
                j,
            )
        }))
    }

    fn table_at(&self, physical_id: i64, ts: u64) -> Option<Arc<TableVersion>> {
        self.store.table_at(physical_id, ts)
    }

    fn tables(&self) -> Vec<Arc<TableVersion>> {
        self.store.tables()
    }

    fn apply(&mut self, job: &DdlJob) -> Result<Vec<SchemaChange>, String> {
        self.store.apply(job).map_err(|e| e.to_string())
    }

    fn gc(&mut self, below_ts: u64) {
        self.store.gc(below_ts);
    }
}
