//! Open protocol encoding throughput for a sysbench-shaped row, next to Canal-JSON and
//! Debezium.
//!
//! The row is `sbtest1`'s INSERT from `support/sysbench_row.rs` (shared with the other codec
//! benches). One run measures, in rows per second:
//! * `canal_json/sbtest_insert`: `CanalJsonEncoder::encode_row` (value only, no extension);
//! * `debezium/sbtest_insert_no_schema`: `DebeziumEncoder::encode_row` without the Connect
//!   schema blocks;
//! * `open_protocol/sbtest_insert`: `OpenEncoder::encode_row` (one event: key and value);
//! * `open_protocol/sbtest_insert_batched`: the same, appended to a record of up to 16 events
//!   (`max-batch-size`) with `Encoder::append_to_batch`, as the emitter packs a partition's
//!   rows (a new record every 16 rows).
//!
//! Run: `cargo bench --bench open_protocol`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidb_changefeed::codec::canal_json::{CanalJsonConfig, CanalJsonEncoder};
use tidb_changefeed::codec::debezium::{DebeziumConfig, DebeziumEncoder};
use tidb_changefeed::codec::open::{OpenConfig, OpenEncoder};
use tidb_changefeed::codec::{Encoder, FixedClock, Record, TableCodec};

#[path = "support/sysbench_row.rs"]
mod sysbench_row;

use sysbench_row::{insert, sbtest};

fn bench(c: &mut Criterion) {
    let meta = sbtest();
    let ev = insert(&meta);
    let clock = Arc::new(FixedClock(1_701_326_309_000));
    let canal = CanalJsonEncoder::with_clock(CanalJsonConfig::default(), clock.clone());
    let dbz = DebeziumEncoder::with_clock(
        DebeziumConfig {
            disable_schema: true,
            ..DebeziumConfig::default()
        },
        clock,
    );
    let open = OpenEncoder::new(OpenConfig::default());
    // The pipeline prepares each table version once (the Open protocol keeps its column order).
    let prepared = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(open.prepare_table("sbtest", "sbtest1", &meta, "t"))
        .expect("prepared");
    for enc in [&canal as &dyn Encoder, &dbz, &open] {
        assert!(
            enc.encode_row(&TableCodec::NONE, &ev)
                .expect("encodes")
                .is_some_and(|r| r.value.is_some())
        );
    }
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    g.bench_function("canal_json/sbtest_insert", |b| {
        b.iter(|| canal.encode_row(&TableCodec::NONE, black_box(&ev)))
    });
    g.bench_function("debezium/sbtest_insert_no_schema", |b| {
        b.iter(|| dbz.encode_row(&TableCodec::NONE, black_box(&ev)))
    });
    g.bench_function("open_protocol/sbtest_insert", |b| {
        b.iter(|| open.encode_row(&prepared, black_box(&ev)))
    });
    let mut batch: Option<(Record, usize)> = None;
    g.bench_function("open_protocol/sbtest_insert_batched", |b| {
        b.iter(|| {
            let next = open
                .encode_row(&prepared, black_box(&ev))
                .expect("encodes")
                .expect("a record");
            let appended = match batch.as_mut() {
                Some((record, rows)) => {
                    let fits = open.append_to_batch(record, *rows, &next, 1 << 20);
                    *rows += usize::from(fits);
                    fits
                }
                None => false,
            };
            if !appended {
                black_box(batch.replace((next, 1)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
