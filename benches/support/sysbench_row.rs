//! The sysbench-shaped table and row the encoding benches share.
//!
//! `sbtest1 (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL,
//! KEY k_1 (k))`, as sysbench `oltp_*` creates it, with `c` and `pad` filled as sysbench fills
//! them (groups of 11 digits separated by '-'). Deterministic: the same arguments always give
//! the same row. Included by each bench with `#[path = "support/sysbench_row.rs"] mod …;`.

use std::sync::Arc;

use tidb_changefeed::event::{RowEvent, RowKind, TableMeta};
use tidb_changefeed::model::{
    CIStr, ColumnInfo, FieldType, IndexColumn, IndexInfo, SchemaState, TableInfo, flag, tp,
};
use tidb_changefeed::mount::Value;

fn column(id: i64, name: &str, t: u8, fl: u32, flen: i64, charset: &str) -> ColumnInfo {
    ColumnInfo {
        id,
        name: CIStr::new(name),
        offset: id - 1,
        field_type: FieldType {
            tp: t,
            flag: fl,
            flen,
            charset: charset.into(),
            collate: if charset == "binary" {
                "binary"
            } else {
                "utf8mb4_bin"
            }
            .into(),
            ..FieldType::default()
        },
        state: SchemaState::PUBLIC,
        ..ColumnInfo::default()
    }
}

/// The table version of `sbtest.sbtest1` (table id 100, `id` is the handle).
pub fn sbtest() -> Arc<TableMeta> {
    let nn = flag::NOT_NULL;
    let info = TableInfo {
        id: 100,
        name: CIStr::new("sbtest1"),
        columns: vec![
            column(1, "id", tp::LONG, nn | flag::PRI_KEY, 11, "binary"),
            column(2, "k", tp::LONG, nn | flag::MULTIPLE_KEY, 11, "binary"),
            column(3, "c", tp::STRING, nn, 120, "utf8mb4"),
            column(4, "pad", tp::STRING, nn, 60, "utf8mb4"),
        ],
        indices: vec![IndexInfo {
            id: 1,
            name: CIStr::new("k_1"),
            columns: vec![IndexColumn {
                name: CIStr::new("k"),
                offset: 1,
                length: -1,
            }],
            state: SchemaState::PUBLIC,
            ..IndexInfo::default()
        }],
        pk_is_handle: true,
        ..TableInfo::default()
    };
    Arc::new(TableMeta::new(&info))
}

/// Row `id`, its `c` and `pad` derived from `c_seed`.
pub fn row(id: i64, c_seed: u64) -> Vec<Value> {
    // sysbench fills c and pad with groups of 11 digits separated by '-'.
    let digits = |seed: u64, groups: usize| -> Vec<u8> {
        let mut out = Vec::new();
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        for g in 0..groups {
            if g > 0 {
                out.push(b'-');
            }
            for _ in 0..11 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                out.push(b'0' + (x >> 60) as u8 % 10);
            }
        }
        out
    };
    vec![
        Value::Int(id),
        Value::Int(id * 7 % 100_000),
        Value::Bytes(digits(c_seed, 10)),
        Value::Bytes(digits(c_seed + 1, 5)),
    ]
}

/// The INSERT of row 42 (`row(42, 1)`) into `meta`, committed at a fixed ts.
pub fn insert(meta: &Arc<TableMeta>) -> RowEvent {
    RowEvent {
        schema: "sbtest".into(),
        table: "sbtest1".into(),
        meta: meta.clone(),
        commit_ts: 449_870_311_925_678_085,
        physical_id: 0,
        row_id: 0,
        kind: RowKind::Insert,
        new: Some(row(42, 1)),
        old: None,
    }
}
