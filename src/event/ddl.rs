//! [`DdlEvent`]: one finished DDL as the codecs and dispatchers see it, after TiCDC's splitting
//! of multi-table DDLs into one event per table, and [`TableName`].
//!
//! Reason to exist: the schema tracker's `SchemaChange` carries what tracking needs (physical
//! ids added and removed, versions); protocols need the query text, the action, the names
//! before and after, and the new table's metadata.

use std::sync::Arc;

use super::table::TableMeta;
use crate::model::{ActionType, TableInfo};

/// A schema-qualified table name; `table` is empty for schema-level DDL.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct TableName {
    pub schema: String,
    pub table: String,
}

/// One DDL event (multi-table DDLs already split into one event per table).
#[derive(Debug, Clone, PartialEq)]
pub struct DdlEvent {
    /// Query text as TiCDC emits it (rewritten for split multi-table DDLs).
    pub query: String,
    pub action: ActionType,
    /// Table the DDL produced (TiCDC `TableInfo.TableName`).
    pub table: TableName,
    /// Table before the DDL, when there was one (TiCDC `PreTableInfo`): renames, drops,
    /// alters. Topic routing uses it.
    pub pre_table: Option<TableName>,
    /// Metadata of the table after the DDL, for protocols that describe the schema.
    pub meta: Option<Arc<TableMeta>>,
    /// TiDB's definition of the table after the DDL (every column, hidden ones included),
    /// for protocols that describe the table itself (Debezium's `tableChanges`).
    pub table_info: Option<Arc<TableInfo>>,
    pub start_ts: u64,
    /// The DDL job's finished ts; DDL messages carry it as commit ts.
    pub commit_ts: u64,
}
