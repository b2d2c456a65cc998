//! Avro encoding throughput for a sysbench-shaped row, next to Canal-JSON, and our hand-written
//! Avro writer next to the `apache-avro` crate.
//!
//! The row is `sbtest1`'s INSERT from `support/sysbench_row.rs` (shared with the `canal_json`
//! bench). One run measures, in rows per second:
//! * `canal_json/sbtest_insert`: `CanalJsonEncoder::encode_row` (value only, no key);
//! * `avro/sbtest_insert`: `AvroEncoder::encode_row`: the key record (`id`) and the value
//!   record (all columns), each in its Confluent envelope;
//! * `avro/apache_avro_datum_writer`: the same two records written through `apache-avro`: per
//!   row a `types::Record` is built from the row's values and written by a
//!   `GenericDatumWriter` made once per schema (validation on, the crate's default), each
//!   behind the same envelope;
//! * `avro/apache_avro_to_avro_datum`: the same through `to_avro_datum` (deprecated in 0.22:
//!   it builds a `GenericDatumWriter`, resolving the schema, on every call).
//!
//! Both formats without the TiDB extension. The table's records are made by
//! `AvroEncoder::plans` and wrapped in an `AvroTable` with made-up schema ids (the registry is
//! only needed to register them and is never contacted). Before measuring, the crate's bytes
//! are checked equal to ours. Run: `cargo bench --bench avro`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use apache_avro::Schema;
use apache_avro::types::{Record as AvroRecord, Value as AvroValue};
use apache_avro::writer::datum::GenericDatumWriter;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidb_changefeed::codec::avro::binary;
use tidb_changefeed::codec::avro::schema::{FieldKind, Nullability};
use tidb_changefeed::codec::avro::{AvroEncoder, AvroModes, AvroTable, RecordPlan, Registry};
use tidb_changefeed::codec::canal_json::{CanalJsonConfig, CanalJsonEncoder};
use tidb_changefeed::codec::{Encoder, FixedClock, TableCodec};
use tidb_changefeed::config::{AvroBigintUnsignedMode, AvroDecimalMode};
use tidb_changefeed::event::RowEvent;
use tidb_changefeed::mount::Value;

#[path = "support/sysbench_row.rs"]
mod sysbench_row;

use sysbench_row::{insert, sbtest};

/// Made-up registry ids of the key and value schemas.
const KEY_ID: i32 = 7;
const VALUE_ID: i32 = 8;

/// One row value as `apache-avro` wants it for a field of `kind` (the kinds of the sysbench
/// row; other kinds are not needed here).
fn avro_value(kind: FieldKind, nullability: Nullability, v: &Value) -> AvroValue {
    let inner = match (kind, v) {
        (_, Value::Null) => AvroValue::Null,
        (FieldKind::Int, Value::Int(i)) => AvroValue::Int(*i as i32),
        (FieldKind::Long, Value::Int(i)) => AvroValue::Long(*i),
        (FieldKind::Text, Value::Bytes(b)) => {
            AvroValue::String(String::from_utf8_lossy(b).into_owned())
        }
        (FieldKind::Binary, Value::Bytes(b)) => AvroValue::Bytes(b.clone()),
        (kind, v) => panic!("{kind:?} of {v:?} is not in the sysbench row"),
    };
    match (nullability, v.is_null()) {
        (Nullability::Required, _) => inner,
        (Nullability::NullFirst, true) => AvroValue::Union(0, Box::new(AvroValue::Null)),
        (Nullability::NullFirst, false) => AvroValue::Union(1, Box::new(inner)),
        (Nullability::NullSecond, true) => AvroValue::Union(1, Box::new(AvroValue::Null)),
        (Nullability::NullSecond, false) => AvroValue::Union(0, Box::new(inner)),
    }
}

/// The record of `values` following `plan`, as an `apache-avro` value tree.
fn avro_record(schema: &Schema, plan: &RecordPlan, values: &[Value]) -> AvroValue {
    let mut record = AvroRecord::new(schema).expect("a record schema");
    for (slot, f) in record.fields.iter_mut().zip(&plan.fields) {
        slot.1 = avro_value(f.kind, f.nullability, &values[f.position]);
    }
    record.into()
}

/// Our envelope, then the datum the crate wrote.
fn enveloped(id: i32, datum: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + datum.len());
    binary::envelope(&mut out, id);
    out.extend_from_slice(&datum);
    out
}

fn bench(c: &mut Criterion) {
    let meta = sbtest();
    let insert = insert(&meta);

    let canal = CanalJsonEncoder::with_clock(
        CanalJsonConfig::default(),
        Arc::new(FixedClock(1_700_000_000_000)),
    );

    // reqwest is built without a crypto provider; the daemon installs ring's at start.
    tidb_changefeed::runtime::install_crypto_provider();
    let registry = Registry::new("http://127.0.0.1:1", None).expect("a registry client");
    let avro = AvroEncoder::new(
        AvroModes {
            enable_tidb_extension: false,
            decimal: AvroDecimalMode::Precise,
            bigint_unsigned: AvroBigintUnsignedMode::Long,
        },
        Arc::new(registry),
    );
    let (key_plan, value_plan) = avro
        .plans(&insert.schema, &insert.table, &meta)
        .expect("sbtest1's records");
    let key_plan = key_plan.expect("sbtest1 has a handle key");
    let key_schema = Schema::parse_str(&key_plan.schema).expect("our key schema parses");
    let value_schema = Schema::parse_str(&value_plan.schema).expect("our value schema parses");
    let table = TableCodec::new(AvroTable {
        key: Some((key_plan.clone(), KEY_ID)),
        value: (value_plan.clone(), VALUE_ID),
        name: "`sbtest`.`sbtest1`".into(),
    });

    let key_writer = GenericDatumWriter::builder(&key_schema)
        .build()
        .expect("a key writer");
    let value_writer = GenericDatumWriter::builder(&value_schema)
        .build()
        .expect("a value writer");
    let crate_writer = |ev: &RowEvent| -> (Vec<u8>, Vec<u8>) {
        let new = ev.new.as_deref().unwrap_or_default();
        let key = key_writer
            .write_value_to_vec(avro_record(&key_schema, &key_plan, ev.key_image()))
            .expect("the crate writes the key");
        let value = value_writer
            .write_value_to_vec(avro_record(&value_schema, &value_plan, new))
            .expect("the crate writes the value");
        (enveloped(KEY_ID, key), enveloped(VALUE_ID, value))
    };
    #[allow(deprecated)] // the crate's one-call API; GenericDatumWriter replaces it in 0.22
    let to_avro_datum = |ev: &RowEvent| -> (Vec<u8>, Vec<u8>) {
        let new = ev.new.as_deref().unwrap_or_default();
        let key = apache_avro::to_avro_datum(
            &key_schema,
            avro_record(&key_schema, &key_plan, ev.key_image()),
        )
        .expect("the crate writes the key");
        let value =
            apache_avro::to_avro_datum(&value_schema, avro_record(&value_schema, &value_plan, new))
                .expect("the crate writes the value");
        (enveloped(KEY_ID, key), enveloped(VALUE_ID, value))
    };

    // The three Avro routes write the same bytes.
    let ours = avro
        .encode_row(&table, &insert)
        .expect("avro encodes the insert")
        .expect("a record");
    let ours = (
        ours.key.expect("a key"),
        ours.value.expect("a value (not a delete)"),
    );
    assert_eq!(crate_writer(&insert), ours, "GenericDatumWriter's bytes");
    assert_eq!(to_avro_datum(&insert), ours, "to_avro_datum's bytes");

    let mut g = c.benchmark_group("canal_json");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sbtest_insert", |b| {
        b.iter(|| canal.encode_row(&TableCodec::NONE, black_box(&insert)))
    });
    g.finish();

    let mut g = c.benchmark_group("avro");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sbtest_insert", |b| {
        b.iter(|| avro.encode_row(&table, black_box(&insert)))
    });
    g.bench_function("apache_avro_datum_writer", |b| {
        b.iter(|| crate_writer(black_box(&insert)))
    });
    g.bench_function("apache_avro_to_avro_datum", |b| {
        b.iter(|| to_avro_datum(black_box(&insert)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    // Short runs: CI's `cargo test --all-targets` runs each bench once in test mode anyway.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
