//! The event views the pipeline hands to encoders and dispatchers.
//!
//! Owns [`RowEvent`] (one row change of one table version, values positional against the
//! table's [`TableMeta`]) and [`DdlEvent`] (one finished DDL, after TiCDC's splitting of
//! multi-table DDLs). Guarantees: a `RowEvent` built by [`RowEvent::from_row_change`] has
//! exactly one value per emitted column, in table order, for each image it carries; kinds are
//! consistent with the images (insert: new only, delete: old only, update: both).

use std::sync::Arc;

use super::error::CodecError;
use super::table_meta::TableMeta;
use crate::model::ActionType;
use crate::mount::{ChangeKind, DecodedColumn, RowChange, Value};

/// What a row event does (after update splitting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowKind {
    Insert,
    Update,
    Delete,
}

/// One row change, as every protocol sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowEvent {
    /// Schema (database) name, original case.
    pub schema: Arc<str>,
    /// Table name, original case; the logical table for partitions.
    pub table: Arc<str>,
    pub meta: Arc<TableMeta>,
    pub commit_ts: u64,
    pub kind: RowKind,
    /// Row after the change (insert, update), one value per `meta.columns` entry.
    pub new: Option<Vec<Value>>,
    /// Row before the change (update, delete), one value per `meta.columns` entry.
    pub old: Option<Vec<Value>>,
}

impl RowEvent {
    /// The image TiCDC reads for keys, `pkNames`, `sqlType` and dispatching: the new row, or
    /// the old row for deletes.
    pub fn key_image(&self) -> &[Value] {
        match (&self.new, &self.old) {
            (Some(n), _) if self.kind != RowKind::Delete => n,
            (_, Some(o)) => o,
            (Some(n), None) => n,
            (None, None) => &[],
        }
    }

    /// Builds the view of a mounted row change; values are placed by column id.
    pub fn from_row_change(
        schema: Arc<str>,
        table: Arc<str>,
        meta: Arc<TableMeta>,
        change: RowChange,
    ) -> Result<RowEvent, CodecError> {
        let place = |cols: Vec<DecodedColumn>| -> Result<Vec<Value>, CodecError> {
            let mut out = vec![Value::Null; meta.columns.len()];
            let mut seen = vec![false; meta.columns.len()];
            for c in cols {
                let Some(p) = meta.position_of(c.id) else {
                    return Err(CodecError::ColumnMismatch {
                        table: table.to_string(),
                        reason: format!("column id {} is not in the table metadata", c.id),
                    });
                };
                out[p] = c.value;
                seen[p] = true;
            }
            if let Some(p) = seen.iter().position(|s| !s) {
                return Err(CodecError::ColumnMismatch {
                    table: table.to_string(),
                    reason: format!("row has no value for column {}", meta.columns[p].name),
                });
            }
            Ok(out)
        };
        let new = change.new.map(place).transpose()?;
        let old = change.old.map(place).transpose()?;
        let kind = match (change.kind, &new, &old) {
            (ChangeKind::Delete, _, Some(_)) => RowKind::Delete,
            (ChangeKind::Insert, Some(_), _) => RowKind::Insert,
            // TiCDC classifies by the images present: no old value means insert.
            (ChangeKind::Update, Some(_), None) => RowKind::Insert,
            (ChangeKind::Update, Some(_), Some(_)) => RowKind::Update,
            _ => {
                return Err(CodecError::ColumnMismatch {
                    table: table.to_string(),
                    reason: format!("{:?} change without the row image it needs", change.kind),
                });
            }
        };
        let (new, old) = match kind {
            RowKind::Insert => (new, None),
            RowKind::Delete => (None, old),
            RowKind::Update => (new, old),
        };
        Ok(RowEvent {
            schema,
            table,
            meta,
            commit_ts: change.commit_ts,
            kind,
            new,
            old,
        })
    }
}

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
    pub start_ts: u64,
    /// The DDL job's finished ts; DDL messages carry it as commit ts.
    pub commit_ts: u64,
}
