//! Typed errors of schema tracking: decoding a DDL job row ([`JobError`]) and applying a job
//! to the multi-version store ([`SchemaError`]).
//!
//! Guarantees: every message names the object that was wrong (key, job id, table id, query)
//! and says what the operator can do about it.

use crate::model::ActionType;
use crate::mount::DecodeError;

/// A `mysql.tidb_ddl_job` row could not be turned into a DDL job.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JobError {
    /// The key is not a record of the job table.
    #[error(
        "key {key} is not a row of mysql.tidb_ddl_job (table {table_id}); only the job table's record range may be fed to the job decoder"
    )]
    NotJobRow { key: String, table_id: i64 },
    /// The job table's TableInfo has no `job_meta` column.
    #[error(
        "mysql.tidb_ddl_job's TableInfo has no job_meta column; the cluster's TiDB version is unsupported"
    )]
    NoJobMetaColumn,
    /// The row value does not decode with the job table's schema.
    #[error("DDL job row {key} (commit ts {commit_ts}) does not decode: {source}")]
    Row {
        key: String,
        commit_ts: u64,
        source: DecodeError,
    },
    /// The row has no `job_meta` bytes.
    #[error("DDL job row {key} (commit ts {commit_ts}) has no job_meta value")]
    NoJobMeta { key: String, commit_ts: u64 },
    /// `job_meta` is not TiDB's job JSON.
    #[error(
        "DDL job row {key} (commit ts {commit_ts}): job_meta is not a TiDB job: {reason}; the cluster's TiDB version may be unsupported"
    )]
    Json {
        key: String,
        commit_ts: u64,
        reason: String,
    },
}

/// A DDL job could not be applied to the schema store. The store is unchanged when this is
/// returned; the changefeed must stop at the job's finished ts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// A job arrived below the last applied one.
    #[error(
        "DDL job {job_id} finished at {finished_ts} arrived after a job finished at {last_ts}: DDL jobs must be applied in finished-ts order (a pipeline bug)"
    )]
    OutOfOrder {
        job_id: i64,
        finished_ts: u64,
        last_ts: u64,
    },
    /// The job refers to a schema the store does not hold.
    #[error(
        "DDL job {job_id} ({query:?}) refers to schema id {schema_id}, unknown at ts {finished_ts}; the schema snapshot and the DDL stream disagree: restart the changefeed from its checkpoint"
    )]
    SchemaNotFound {
        job_id: i64,
        query: String,
        schema_id: i64,
        finished_ts: u64,
    },
    /// The job refers to a table the store does not hold.
    #[error(
        "DDL job {job_id} ({query:?}) refers to table id {table_id}, unknown at ts {finished_ts}; the schema snapshot and the DDL stream disagree: restart the changefeed from its checkpoint"
    )]
    TableNotFound {
        job_id: i64,
        query: String,
        table_id: i64,
        finished_ts: u64,
    },
    /// The job creates a table id that already exists.
    #[error(
        "DDL job {job_id} ({query:?}) creates table id {table_id}, which already exists as {existing}; restart the changefeed from its checkpoint"
    )]
    TableExists {
        job_id: i64,
        query: String,
        table_id: i64,
        existing: String,
    },
    /// The job lacks what its kind needs (binlog info, arguments, partitions).
    #[error("DDL job {job_id} (type {action}, {query:?}) is malformed: {reason}")]
    InvalidJob {
        job_id: i64,
        action: ActionType,
        query: String,
        reason: String,
    },
}
