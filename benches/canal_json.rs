//! Canal-JSON encoding throughput for a sysbench-shaped row.
//!
//! `sbtest1 (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL,
//! KEY k_1 (k))`, as sysbench `oltp_*` creates it; one INSERT and one UPDATE (of `c`) per
//! iteration group. Reports elements (rows) per second. Run:
//! `cargo bench --bench canal_json`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidb_changefeed::codec::canal_json::{CanalJsonConfig, CanalJsonEncoder};
use tidb_changefeed::codec::{Encoder, FixedClock, TableCodec};
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

fn sbtest() -> Arc<TableMeta> {
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

fn row(id: i64, c_seed: u64) -> Vec<Value> {
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

fn bench(c: &mut Criterion) {
    let meta = sbtest();
    let enc = CanalJsonEncoder::with_clock(
        CanalJsonConfig {
            enable_tidb_extension: true,
            ..CanalJsonConfig::default()
        },
        Arc::new(FixedClock(1_700_000_000_000)),
    );
    let insert = RowEvent {
        schema: "sbtest".into(),
        table: "sbtest1".into(),
        meta: meta.clone(),
        commit_ts: 449_870_311_925_678_085,
        kind: RowKind::Insert,
        new: Some(row(42, 1)),
        old: None,
    };
    let update = RowEvent {
        kind: RowKind::Update,
        old: Some(row(42, 1)),
        new: Some(row(42, 2)),
        ..insert.clone()
    };
    let mut g = c.benchmark_group("canal_json");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sbtest_insert", |b| {
        b.iter(|| enc.encode_row(&TableCodec::NONE, black_box(&insert)))
    });
    g.bench_function("sbtest_update", |b| {
        b.iter(|| enc.encode_row(&TableCodec::NONE, black_box(&update)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
