//! [`RowEvent`]: one row change of one table version with typed values, as filters,
//! dispatchers and every protocol see it, and [`RowKind`].
//!
//! Reason to exist: it is the one typed form of a row between the decoder and the encoders;
//! values are positional against the table version's [`TableMeta`] (not keyed by column id),
//! so encoders and dispatchers index columns without lookups.
//!
//! Guarantees: a `RowEvent` built by [`RowEvent::decode`] has exactly one value per emitted
//! column, in table order, for each image it carries; kinds are consistent with the images
//! (insert: new only, delete: old only, update: both); the decoding follows TiCDC's
//! `mountRowKVEntry` (a PUT without old value is an insert, with one an update; a DELETE
//! carries the old row in its old value; empty values give no image).

use std::collections::HashSet;
use std::sync::Arc;

use super::change::{KvChange, OpType};
use super::table::TableMeta;
use crate::mount::{DecodeError, DecodedColumn, RowDecoder, Value};

/// What a row change does (after update splitting).
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
    /// The physical table the row lives in (a partition's own id for partitioned tables).
    pub physical_id: i64,
    /// The integer row handle (`_tidb_rowid` or the integer primary key; TiCDC's `RowID`),
    /// 0 for clustered non-integer primary keys.
    pub row_id: i64,
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

    /// Decodes one committed change of a table version into its typed row, keeping only the
    /// columns in `keep` (column selectors; `None` keeps all). `Ok(None)` when the change
    /// carries no image at all (a delete of a row that never existed, as when a transaction
    /// inserts and deletes it): TiCDC skips such empty events.
    pub fn decode(
        change: &KvChange,
        decoder: &RowDecoder,
        schema: Arc<str>,
        table: Arc<str>,
        meta: Arc<TableMeta>,
        keep: Option<&HashSet<i64>>,
    ) -> Result<Option<RowEvent>, RowError> {
        let key = &change.key;
        let (physical_id, handle) = decoder.decode_key(key)?;
        let row_id = match &handle {
            crate::mount::Handle::Int(h) => *h,
            crate::mount::Handle::Common(_) => 0,
        };
        let image = |value: &[u8]| {
            decoder
                .decode_value(&handle, value)
                .map_err(|e| decoder.row_error(key, e))
        };
        let new = match change.op {
            OpType::Put if !change.value.is_empty() => Some(image(&change.value)?),
            _ => None,
        };
        let old = match &change.old_value {
            Some(v) if !v.is_empty() => Some(image(v)?),
            _ => None,
        };
        if new.is_none() && old.is_none() {
            return Ok(None);
        }
        let kind = match (change.op, &new, &old) {
            (OpType::Delete, _, Some(_)) => RowKind::Delete,
            (OpType::Put, Some(_), None) => RowKind::Insert,
            (OpType::Put, Some(_), Some(_)) => RowKind::Update,
            (op, _, _) => {
                return Err(RowError::Mismatch {
                    reason: format!("{op:?} change without the row image it needs"),
                });
            }
        };
        let place = |cols: Vec<DecodedColumn>| -> Result<Vec<Value>, RowError> {
            let mut out = vec![Value::Null; meta.columns.len()];
            let mut seen = vec![false; meta.columns.len()];
            for c in cols {
                if keep.is_some_and(|k| !k.contains(&c.id)) {
                    continue;
                }
                let Some(p) = meta.position_of(c.id) else {
                    return Err(RowError::Mismatch {
                        reason: format!("column id {} is not in the table metadata", c.id),
                    });
                };
                out[p] = c.value;
                seen[p] = true;
            }
            if let Some(p) = seen.iter().position(|s| !s) {
                return Err(RowError::Mismatch {
                    reason: format!("row has no value for column {}", meta.columns[p].name),
                });
            }
            Ok(out)
        };
        let (new, old) = match kind {
            RowKind::Insert => (new.map(place).transpose()?, None),
            RowKind::Delete => (None, old.map(place).transpose()?),
            RowKind::Update => (new.map(place).transpose()?, old.map(place).transpose()?),
        };
        Ok(Some(RowEvent {
            schema,
            table,
            meta,
            commit_ts: change.commit_ts,
            physical_id,
            row_id,
            kind,
            new,
            old,
        }))
    }
}

/// Why a committed change could not become a [`RowEvent`].
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// The key or a value is not what the table version says (names the table and key).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The decoded row does not fit the table metadata (wrong column ids or a missing image).
    #[error("row does not match the table metadata: {reason}")]
    Mismatch { reason: String },
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{CIStr, ColumnInfo, FieldType, SchemaState, TableInfo, tp};
    use crate::mount::key::encode_record_key;
    use crate::mount::{Handle, TimeZone};

    fn table() -> TableInfo {
        TableInfo {
            id: 104,
            name: CIStr::new("t"),
            columns: vec![ColumnInfo {
                id: 1,
                name: CIStr::new("a"),
                offset: 0,
                field_type: FieldType {
                    tp: tp::LONGLONG,
                    flen: 20,
                    ..FieldType::default()
                },
                state: SchemaState::PUBLIC,
                ..ColumnInfo::default()
            }],
            ..TableInfo::default()
        }
    }

    fn change(op: OpType, value: &[u8], old: Option<&[u8]>) -> KvChange {
        KvChange {
            key: encode_record_key(104, &Handle::Int(1)).unwrap(),
            value: value.to_vec(),
            old_value: old.map(<[u8]>::to_vec),
            op,
            start_ts: 1,
            commit_ts: 10,
        }
    }

    #[test]
    fn kinds_follow_the_images() {
        let t = table();
        let d = RowDecoder::new(&t, TimeZone::Utc);
        let meta = Arc::new(TableMeta::new(&t));
        let ev = |c: KvChange| {
            RowEvent::decode(&c, &d, "s".into(), "t".into(), Arc::clone(&meta), None).unwrap()
        };
        // Row format v2, small: one not-null column, id 1, value 5 (compact int).
        let v: &[u8] = &[0x80, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x05];
        let ins = ev(change(OpType::Put, v, None)).unwrap();
        assert_eq!(ins.kind, RowKind::Insert);
        assert!(ins.old.is_none());
        assert_eq!(ins.new, Some(vec![Value::Int(5)]));
        let upd = ev(change(OpType::Put, v, Some(v))).unwrap();
        assert_eq!(upd.kind, RowKind::Update);
        let del = ev(change(OpType::Delete, &[], Some(v))).unwrap();
        assert_eq!(del.kind, RowKind::Delete);
        assert!(del.new.is_none());
        assert_eq!(del.old, Some(vec![Value::Int(5)]));
        assert!(ev(change(OpType::Delete, &[], None)).is_none());
    }
}
