//! Partition dispatchers.
//!
//! Owns [`PartitionDispatcher`] (tiflow `cdc/sink/dmlsink/mq/dispatcher/partition/*.go`).
//! Guarantees, for a row of `schema.table` and `n` partitions (`h` = [`PositionInertia`]):
//! * `default` / `table`: `h(schema‖table) mod n`;
//! * `ts`: `commitTs mod n`;
//! * `index-value` (alias `rowid`) without index: `h(schema‖table)` XOR `h(name‖value)` for every
//!   selected handle-key column in table order; with an index name (case-insensitive): the same
//!   over that index's columns in index order, written with the index's column names;
//! * `columns`: the same over the configured columns (names case-insensitive) in config order,
//!   written with the table's column names;
//! * values are TiCDC value strings ([`crate::event::value_text`]; NULL → `null`); the row used
//!   is the new row, or the old row for deletes; unselected columns are skipped.
//!
//! TiCDC looks index and column positions up in `TableInfo.Columns` and reads the row at that
//! position, while the row itself omits virtual generated columns; with a virtual column before
//! the referenced one it therefore reads a later column (or panics past the end). We reproduce
//! the position arithmetic so partitions stay identical, and return an error where TiCDC panics.

use super::DispatchError;
use super::hash::PositionInertia;
use crate::event::RowEvent;
use crate::event::TableMeta;
use crate::event::value_text::value_string;

/// A partition rule (TiCDC `partition = "..."`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionDispatcher {
    /// `default`: the table dispatcher since v7.4.
    Default,
    Table,
    Ts,
    /// `index-value` / `rowid`, optionally with `index = "name"`.
    IndexValue {
        index: Option<String>,
    },
    /// `columns` with `columns = [...]`.
    Columns(Vec<String>),
}

impl PartitionDispatcher {
    /// TiCDC `getPartitionDispatcher`: the rule name is case-insensitive; an unknown name falls
    /// back to `default` (TiCDC logs a warning) and is reported by the second value.
    pub fn from_rule(rule: &str, index: &str, columns: &[String]) -> (Self, bool) {
        let d = match rule.to_ascii_lowercase().as_str() {
            "default" => PartitionDispatcher::Default,
            "ts" => PartitionDispatcher::Ts,
            "table" => PartitionDispatcher::Table,
            "index-value" | "rowid" => PartitionDispatcher::IndexValue {
                index: (!index.is_empty()).then(|| index.to_owned()),
            },
            "columns" => PartitionDispatcher::Columns(columns.to_vec()),
            _ => return (PartitionDispatcher::Default, true),
        };
        (d, false)
    }

    /// Checks a table against the rule (TiCDC `VerifyTables`): a named index must exist and be
    /// unique; configured columns must exist and not be virtual.
    pub fn verify(&self, table: &str, meta: &TableMeta) -> Result<(), DispatchError> {
        match self {
            PartitionDispatcher::IndexValue { index: Some(name) } => {
                let idx = find_index(table, meta, name)?;
                if !idx.unique {
                    return Err(DispatchError::IndexNotUnique {
                        table: table.to_owned(),
                        index: name.clone(),
                    });
                }
                Ok(())
            }
            PartitionDispatcher::Columns(cols) => column_offsets(table, meta, cols).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// The partition of a row among `partitions`.
    pub fn partition(&self, ev: &RowEvent, partitions: i32) -> Result<i32, DispatchError> {
        let n = u32::try_from(partitions)
            .ok()
            .filter(|&n| n > 0)
            .ok_or(DispatchError::BadPartitionCount(partitions))?;
        let mut h = PositionInertia::new();
        let table_hash = |h: &mut PositionInertia| {
            h.write(&[ev.schema.as_bytes(), ev.table.as_bytes()]);
        };
        let meta = &ev.meta;
        let image = ev.key_image();
        match self {
            PartitionDispatcher::Default | PartitionDispatcher::Table => table_hash(&mut h),
            PartitionDispatcher::Ts => {
                return Ok(i32::try_from(ev.commit_ts % u64::from(n)).unwrap_or(0));
            }
            PartitionDispatcher::IndexValue { index: None } => {
                table_hash(&mut h);
                for (c, v) in meta.columns.iter().zip(image) {
                    if c.selected && c.flags.is_handle_key() {
                        h.write(&[c.name.as_bytes(), &value_string(v)]);
                    }
                }
            }
            PartitionDispatcher::IndexValue { index: Some(name) } => {
                table_hash(&mut h);
                let idx = find_index(&ev.table, meta, name)?;
                for (col_name, offset) in &idx.columns {
                    let (c, v) = row_at(&ev.table, meta, image, *offset)?;
                    if c.selected {
                        h.write(&[col_name.as_bytes(), &value_string(v)]);
                    }
                }
            }
            PartitionDispatcher::Columns(cols) => {
                table_hash(&mut h);
                for offset in column_offsets(&ev.table, meta, cols)? {
                    let (c, v) = row_at(&ev.table, meta, image, offset)?;
                    if c.selected {
                        h.write(&[c.name.as_bytes(), &value_string(v)]);
                    }
                }
            }
        }
        Ok(i32::try_from(h.sum32() % n).unwrap_or(0))
    }
}

fn find_index<'m>(
    table: &str,
    meta: &'m TableMeta,
    name: &str,
) -> Result<&'m crate::event::IndexMeta, DispatchError> {
    let lower = name.to_lowercase();
    meta.indices
        .iter()
        .find(|i| i.name_lower == lower)
        .ok_or_else(|| DispatchError::IndexNotFound {
            table: table.to_owned(),
            index: name.to_owned(),
        })
}

/// TiCDC `OffsetsByNames`: positions in `TableInfo.columns`.
fn column_offsets(
    table: &str,
    meta: &TableMeta,
    cols: &[String],
) -> Result<Vec<usize>, DispatchError> {
    cols.iter()
        .map(|name| {
            let lower = name.to_lowercase();
            if meta
                .info_columns
                .iter()
                .any(|(n, virt)| *virt && *n == lower)
            {
                return Err(DispatchError::VirtualColumn {
                    table: table.to_owned(),
                    column: name.clone(),
                });
            }
            meta.info_columns
                .iter()
                .position(|(n, virt)| !*virt && *n == lower)
                .ok_or_else(|| DispatchError::ColumnNotFound {
                    table: table.to_owned(),
                    column: name.clone(),
                })
        })
        .collect()
}

/// The row column TiCDC reads for a `TableInfo.columns` position (see the module docs).
fn row_at<'r>(
    table: &str,
    meta: &'r TableMeta,
    image: &'r [crate::mount::Value],
    offset: usize,
) -> Result<(&'r crate::event::ColumnMeta, &'r crate::mount::Value), DispatchError> {
    match (meta.columns.get(offset), image.get(offset)) {
        (Some(c), Some(v)) => Ok((c, v)),
        _ => Err(DispatchError::OffsetOutOfRow {
            table: table.to_owned(),
            offset,
        }),
    }
}
