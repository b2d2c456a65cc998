//! TiDB's meta model (`pkg/meta/model`): the serde models of the `TableInfo` and `DBInfo` JSON
//! that TiDB writes to its meta keys and DDL job rows, the DDL job kinds ([`ActionType`]),
//! the system schemas nothing replicates, and the plain-data [`MetaSnapshot`] of the schema at
//! one ts.
//!
//! A foundation: it imports nothing else of this crate and does no I/O; the codecs (`mount`),
//! schema tracking (`schema`) and the output formats build on it.
//!
//! Guarantees: field names are exactly TiDB's JSON tags; fields TiDB adds in later releases
//! are ignored; Go's `null` for slices, strings and pointers is accepted wherever TiDB may
//! write it.

pub mod action;
pub mod db_info;
pub mod meta_snapshot;
pub mod system_schema;
pub mod table_info;

pub use action::ActionType;
pub use db_info::DbInfo;
pub use meta_snapshot::{MetaSnapshot, SnapshotTable};
pub use system_schema::{SYSTEM_SCHEMAS, is_system_schema};
pub use table_info::{
    CIStr, ColumnDefault, ColumnInfo, DefaultValue, FieldType, IndexColumn, IndexInfo,
    PartitionDefinition, PartitionInfo, SchemaState, TableInfo, flag, tp,
};
