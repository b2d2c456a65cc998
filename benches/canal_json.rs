//! Canal-JSON encoding throughput for a sysbench-shaped row.
//!
//! `sbtest1 (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL,
//! KEY k_1 (k))`, as sysbench `oltp_*` creates it (`support/sysbench_row.rs`, shared with the
//! `avro` bench); one INSERT and one UPDATE (of `c`) per iteration group. Reports elements
//! (rows) per second. Run:
//! `cargo bench --bench canal_json`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidb_changefeed::codec::canal_json::{CanalJsonConfig, CanalJsonEncoder};
use tidb_changefeed::codec::{Encoder, FixedClock, TableCodec};
use tidb_changefeed::event::{RowEvent, RowKind};

#[path = "support/sysbench_row.rs"]
mod sysbench_row;

use sysbench_row::{insert, row, sbtest};

fn bench(c: &mut Criterion) {
    let meta = sbtest();
    let enc = CanalJsonEncoder::with_clock(
        CanalJsonConfig {
            enable_tidb_extension: true,
            ..CanalJsonConfig::default()
        },
        Arc::new(FixedClock(1_700_000_000_000)),
    );
    let insert = insert(&meta);
    let update = RowEvent {
        physical_id: 0,
        row_id: 0,
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
