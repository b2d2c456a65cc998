//! The schema as TiDB's meta keys hold it at one ts: every database and every table (with its
//! partitions), as plain data.
//!
//! Guarantees: this is what a snapshot read hands to schema tracking, nothing more; databases
//! are ordered by id, tables by database id then table id.

use super::db_info::DbInfo;
use super::table_info::TableInfo;

/// A table as the meta snapshot holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotTable {
    /// Database id (the `DB:<id>` hash it was found in).
    pub schema_id: i64,
    pub info: TableInfo,
}

/// Databases and tables visible at `ts`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaSnapshot {
    pub ts: u64,
    /// By id.
    pub databases: Vec<DbInfo>,
    /// By database id, then table id.
    pub tables: Vec<SnapshotTable>,
}
