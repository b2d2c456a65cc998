//! Debezium encoding throughput for a sysbench-shaped row, next to Canal-JSON.
//!
//! The row is `sbtest1`'s INSERT from `support/sysbench_row.rs` (shared with the `canal_json`
//! and `avro` benches). One run measures, in rows per second:
//! * `canal_json/sbtest_insert`: `CanalJsonEncoder::encode_row` (value only, no extension);
//! * `debezium/sbtest_insert`: `DebeziumEncoder::encode_row`, key and value messages with the
//!   Connect `schema` blocks (TiCDC's default), the table version prepared once as the
//!   pipeline does (its schema texts written then, not per row);
//! * `debezium/sbtest_insert_unprepared`: the same writing the schemas for every row;
//! * `debezium/sbtest_insert_no_schema`: the same with `debezium-disable-schema = true`.
//!
//! Run: `cargo bench --bench debezium`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidb_changefeed::codec::canal_json::{CanalJsonConfig, CanalJsonEncoder};
use tidb_changefeed::codec::debezium::{DebeziumConfig, DebeziumEncoder};
use tidb_changefeed::codec::{Encoder, FixedClock, TableCodec};

#[path = "support/sysbench_row.rs"]
mod sysbench_row;

use sysbench_row::{insert, sbtest};

fn bench(c: &mut Criterion) {
    let meta = sbtest();
    let ev = insert(&meta);
    let clock = Arc::new(FixedClock(1_701_326_309_000));
    let canal = CanalJsonEncoder::with_clock(CanalJsonConfig::default(), clock.clone());
    let dbz = |disable_schema| {
        DebeziumEncoder::with_clock(
            DebeziumConfig {
                disable_schema,
                ..DebeziumConfig::default()
            },
            clock.clone(),
        )
    };
    let with_schema = dbz(false);
    let without_schema = dbz(true);
    let prepared = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(with_schema.prepare_table("sbtest", "sbtest1", &meta, "t"))
        .expect("prepared");
    // Every encoder gives a record for the row before anything is timed.
    for enc in [&canal as &dyn Encoder, &with_schema, &without_schema] {
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
    g.bench_function("debezium/sbtest_insert", |b| {
        b.iter(|| with_schema.encode_row(&prepared, black_box(&ev)))
    });
    g.bench_function("debezium/sbtest_insert_unprepared", |b| {
        b.iter(|| with_schema.encode_row(&TableCodec::NONE, black_box(&ev)))
    });
    g.bench_function("debezium/sbtest_insert_no_schema", |b| {
        b.iter(|| without_schema.encode_row(&TableCodec::NONE, black_box(&ev)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
