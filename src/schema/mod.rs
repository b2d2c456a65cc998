//! Table schemas as TiDB stores them.
//!
//! Owns the serde model of TiDB's `TableInfo` JSON (the value of the `DB:<id>` / `Table:<id>`
//! meta keys and of DDL job rows), restricted to what row decoding needs, plus the MySQL type
//! and flag constants it refers to.
//!
//! Guarantees: field names are exactly TiDB's JSON tags; fields TiDB adds in later releases
//! are ignored; Go's `null` for slices, strings and pointers is accepted wherever TiDB may
//! write it. Tracking schemas over time (meta snapshot + DDL jobs) is not done here.

pub mod table_info;

pub use table_info::{
    CIStr, ColumnInfo, DefaultValue, FieldType, IndexColumn, IndexInfo, PartitionDefinition,
    PartitionInfo, SchemaState, TableInfo, flag, tp,
};
