//! Table schemas as TiDB stores them, and their tracking over time.
//!
//! Owns the serde models of TiDB's `TableInfo` and `DBInfo` JSON (the values of the meta keys
//! and of DDL job rows), restricted to what row decoding and schema tracking need, plus:
//! * [`snapshot`]: the schema as of a ts, read from TiDB's meta keys through TiKV's KV API;
//! * [`job`]: DDL jobs decoded from `mysql.tidb_ddl_job` rows of the CDC feed;
//! * [`store`]: the multi-version [`SchemaStore`] — the table every physical id belonged to
//!   as of any ts, advanced job by job, with one [`SchemaChange`] per table touched.
//!
//! Guarantees: field names are exactly TiDB's JSON tags; fields TiDB adds in later releases
//! are ignored; Go's `null` for slices, strings and pointers is accepted wherever TiDB may
//! write it. The schema comes from TiKV only (meta snapshot + DDL jobs), as in TiCDC.

pub mod db_info;
pub mod error;
mod history;
pub mod job;
mod query;
pub mod snapshot;
pub mod store;
pub mod table_info;
pub mod version;

pub use db_info::DbInfo;
pub use error::{JobError, SchemaError, SnapshotError};
pub use job::{DDL_JOB_TABLE_ID, DdlJob, HistoryInfo, JobDecoder, ddl_job_span};
pub use snapshot::{MetaSnapshot, SnapshotOptions, SnapshotTable, read_meta};
pub use store::SchemaStore;
pub use table_info::{
    CIStr, ColumnInfo, DefaultValue, FieldType, IndexColumn, IndexInfo, PartitionDefinition,
    PartitionInfo, SchemaState, TableInfo, flag, tp,
};
pub use version::{SchemaChange, TableVersion};
