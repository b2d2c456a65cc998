//! Schema tracking: which table every id belonged to as of any ts, built from the meta
//! snapshot and advanced by DDL jobs. Pure computation over [`crate::model`]: no I/O (the
//! snapshot is read next to the upstream client).
//!
//! * [`job`]: DDL jobs decoded from `mysql.tidb_ddl_job` rows of the CDC feed;
//! * [`store`]: the multi-version [`SchemaStore`] — the table every physical id belonged to
//!   as of any ts, advanced job by job, with one [`SchemaChange`] per table touched;
//! * `plan`: what one DDL job does to the store, one function per family of DDL kinds;
//! * [`version`]: what the store hands out ([`TableVersion`], [`SchemaChange`]).
//!
//! Guarantees: the schema comes from TiKV only (meta snapshot + DDL jobs), as in TiCDC.

pub mod error;
mod history;
pub mod job;
mod plan;
mod query;
pub mod store;
pub mod version;

pub use error::{JobError, SchemaError};
pub use job::{DDL_JOB_TABLE_ID, DdlJob, HistoryInfo, JobDecoder, ddl_job_span};
pub use store::SchemaStore;
pub use version::{SchemaChange, TableVersion};
