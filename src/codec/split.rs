//! Splitting of UPDATEs that change a key, as TiCDC classic does for MQ sinks.
//!
//! Owns [`should_split`], [`split_update`] and [`split_and_sort_txn`]
//! (`cdc/model/sink.go` `ShouldSplitUpdateEvent`, `SplitUpdateEvent`,
//! `trySplitAndSortUpdateEvent`, `SingleTableTxn.TrySplitAndSortUpdateEvent`).
//!
//! Guarantees: an UPDATE is split when any selected column flagged UniqueKey or HandleKey has
//! a different value string before and after (NULL is the string `null`); the split yields a
//! DELETE of the old row followed by an INSERT of the new row with the same commit ts. When a
//! transaction had a split, its rows are reordered DELETE < UPDATE < INSERT.
//!
//! TiCDC sorts with Go's unstable `sort.Sort`. For up to 12 rows Go uses insertion sort, which
//! is stable, so our stable sort gives the same order; for larger single-table transactions the
//! relative order of rows of the same kind may differ from TiCDC's.

use crate::event::ColumnFlags;
use crate::event::value_text::value_string;
use crate::event::{RowEvent, RowKind};

/// Whether TiCDC splits this UPDATE into DELETE + INSERT.
pub fn should_split(ev: &RowEvent) -> bool {
    if ev.kind != RowKind::Update {
        return false;
    }
    let (Some(new), Some(old)) = (&ev.new, &ev.old) else {
        return false;
    };
    ev.meta
        .columns
        .iter()
        .zip(new.iter().zip(old))
        .any(|(c, (n, o))| {
            c.selected
                && (c.flags.has(ColumnFlags::UNIQUE_KEY) || c.flags.has(ColumnFlags::HANDLE_KEY))
                && value_string(n) != value_string(o)
        })
}

/// Splits an UPDATE into (DELETE of the old row, INSERT of the new row).
pub fn split_update(ev: RowEvent) -> (RowEvent, RowEvent) {
    let mut del = ev.clone();
    del.kind = RowKind::Delete;
    del.new = None;
    let mut ins = ev;
    ins.kind = RowKind::Insert;
    ins.old = None;
    (del, ins)
}

fn order(k: RowKind) -> u8 {
    match k {
        RowKind::Delete => 0,
        RowKind::Update => 1,
        RowKind::Insert => 2,
    }
}

/// Applies TiCDC's splitting to the rows of one single-table transaction (same commit ts), in
/// their original order. With `output_raw_change_event` the rows are returned unchanged.
pub fn split_and_sort_txn(rows: Vec<RowEvent>, output_raw_change_event: bool) -> Vec<RowEvent> {
    if output_raw_change_event {
        return rows;
    }
    let mut out = Vec::with_capacity(rows.len());
    let mut split = false;
    for ev in rows {
        if should_split(&ev) {
            let (d, i) = split_update(ev);
            out.push(d);
            out.push(i);
            split = true;
        } else {
            out.push(ev);
        }
    }
    if split {
        out.sort_by_key(|e| order(e.kind));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::model::{CIStr, TableInfo, flag, tp};
    use std::sync::Arc;

    use super::*;
    use crate::event::TableMeta;
    use crate::event::test_support::*;
    use crate::mount::Value;

    fn meta() -> Arc<TableMeta> {
        let mut t = TableInfo {
            id: 1,
            name: CIStr::new("t"),
            columns: vec![
                col(
                    1,
                    "id",
                    ft(tp::LONG, flag::NOT_NULL | flag::PRI_KEY, 11, 0, "binary"),
                ),
                col(2, "u", ft(tp::LONG, flag::UNIQUE_KEY, 11, 0, "binary")),
                col(3, "v", ft(tp::LONG, 0, 11, 0, "binary")),
            ],
            pk_is_handle: true,
            ..TableInfo::default()
        };
        t.indices = vec![index(1, "u", &[("u", 1)], true, false)];
        Arc::new(TableMeta::new(&t))
    }

    fn upd(old: [i64; 3], new: [Option<i64>; 3]) -> RowEvent {
        let conv = |v: Option<i64>| v.map(Value::Int).unwrap_or(Value::Null);
        RowEvent {
            schema: "db".into(),
            table: "t".into(),
            meta: meta(),
            commit_ts: 7,
            physical_id: 0,
            row_id: 0,
            kind: RowKind::Update,
            old: Some(old.iter().map(|v| Value::Int(*v)).collect()),
            new: Some(new.iter().map(|v| conv(*v)).collect()),
        }
    }

    #[test]
    fn splits_only_when_a_key_changes() {
        assert!(!should_split(&upd([1, 2, 3], [Some(1), Some(2), Some(4)])));
        assert!(should_split(&upd([1, 2, 3], [Some(9), Some(2), Some(3)])));
        // Unique (nullable) column changed, including to NULL ("null" != "2").
        assert!(should_split(&upd([1, 2, 3], [Some(1), None, Some(3)])));
    }

    #[test]
    fn transaction_reordered_delete_update_insert_only_when_split() {
        let ins = RowEvent {
            physical_id: 0,
            row_id: 0,
            kind: RowKind::Insert,
            old: None,
            ..upd([0, 0, 0], [Some(5), Some(5), Some(5)])
        };
        let plain = upd([1, 2, 3], [Some(1), Some(2), Some(4)]);
        let rows = vec![ins.clone(), plain.clone()];
        let out = split_and_sort_txn(rows.clone(), false);
        assert_eq!(out, rows);
        let keyed = upd([1, 2, 3], [Some(8), Some(2), Some(3)]);
        let out = split_and_sort_txn(vec![ins.clone(), plain.clone(), keyed.clone()], false);
        let kinds: Vec<RowKind> = out.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                RowKind::Delete,
                RowKind::Update,
                RowKind::Insert,
                RowKind::Insert
            ]
        );
        assert_eq!(out[0].old, keyed.old);
        assert_eq!(out[2], ins);
        assert_eq!(out[3].new, keyed.new);
        let raw = split_and_sort_txn(vec![keyed.clone()], true);
        assert_eq!(raw, vec![keyed]);
    }
}
