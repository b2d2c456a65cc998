//! Rows decoded per second by the mount layer's row decoder.
//!
//! `sysbench`: the sysbench `sbtest` shape (id INT PK as handle, k INT, c CHAR(120),
//! pad CHAR(60)), row format v2. `mixed30`: 30 columns of mixed types (ints, decimals,
//! strings, datetime/timestamp in Asia/Shanghai, time, enum, set, bit, JSON, double, NULLs).
//! Run: `cargo bench --bench decode`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidb_changefeed::model::{CIStr, ColumnInfo, FieldType, SchemaState, TableInfo, flag, tp};
use tidb_changefeed::mount::key::encode_record_key;
use tidb_changefeed::mount::time::{TimeType, parse_duration, parse_time};
use tidb_changefeed::mount::{Decimal, Handle, RowDecoder, TimeZone, Value};
use tidb_changefeed_emulator::encode::{encode_row_v2, encode_v2_value};

fn col(id: i64, tp: u8, flag: u32, flen: i64, decimal: i32, elems: &[&str]) -> ColumnInfo {
    ColumnInfo {
        id,
        name: CIStr::new(&format!("c{id}")),
        offset: id - 1,
        field_type: FieldType {
            tp,
            flag,
            flen,
            decimal,
            charset: "utf8mb4".into(),
            collate: "utf8mb4_bin".into(),
            elems: elems.iter().map(|s| s.to_string()).collect(),
            ..FieldType::default()
        },
        state: SchemaState::PUBLIC,
        ..ColumnInfo::default()
    }
}

fn encode(table: &TableInfo, values: &[Value], tz: &TimeZone) -> Vec<u8> {
    let enc: Vec<(i64, Option<Vec<u8>>)> = table
        .columns
        .iter()
        .zip(values)
        .filter(|(c, _)| !(table.pk_is_handle && c.field_type.has_flag(flag::PRI_KEY)))
        .map(|(c, v)| {
            let b = (!v.is_null()).then(|| encode_v2_value(v, tz).expect("encodable value"));
            (c.id, b)
        })
        .collect();
    let refs: Vec<(i64, Option<&[u8]>)> = enc.iter().map(|(i, v)| (*i, v.as_deref())).collect();
    encode_row_v2(&refs)
}

fn sysbench() -> (TableInfo, Vec<u8>) {
    let table = TableInfo {
        id: 110,
        name: CIStr::new("sbtest1"),
        pk_is_handle: true,
        columns: vec![
            col(1, tp::LONG, flag::PRI_KEY | flag::NOT_NULL, 11, 0, &[]),
            col(2, tp::LONG, flag::NOT_NULL, 11, 0, &[]),
            col(3, tp::STRING, flag::NOT_NULL, 120, 0, &[]),
            col(4, tp::STRING, flag::NOT_NULL, 60, 0, &[]),
        ],
        ..TableInfo::default()
    };
    let c = "68487932199-96439406143-93774651418-41631865787-96406072701-20604855487-25459966574-28203206787-41238978918-19503783441";
    let pad = "22195207048-70116052123-74140395089-76317954521-98694025897";
    let values = vec![
        Value::Int(4_999_123),
        Value::Int(5_012_345),
        Value::Bytes(c.as_bytes().to_vec()),
        Value::Bytes(pad.as_bytes().to_vec()),
    ];
    let v = encode(&table, &values, &TimeZone::Utc);
    (table, v)
}

fn mixed30(tz: &TimeZone) -> (TableInfo, Vec<u8>) {
    let u = flag::UNSIGNED;
    let columns = vec![
        col(1, tp::LONGLONG, flag::PRI_KEY | flag::NOT_NULL, 20, 0, &[]),
        col(2, tp::TINY, 0, 4, 0, &[]),
        col(3, tp::SHORT, u, 6, 0, &[]),
        col(4, tp::INT24, 0, 9, 0, &[]),
        col(5, tp::LONG, u, 10, 0, &[]),
        col(6, tp::LONGLONG, 0, 20, 0, &[]),
        col(7, tp::FLOAT, 0, 12, -1, &[]),
        col(8, tp::DOUBLE, 0, 22, -1, &[]),
        col(9, tp::NEWDECIMAL, 0, 10, 2, &[]),
        col(10, tp::NEWDECIMAL, 0, 65, 30, &[]),
        col(11, tp::VARCHAR, 0, 255, 0, &[]),
        col(12, tp::VARCHAR, 0, 64, 0, &[]),
        col(13, tp::BLOB, 0, 65535, 0, &[]),
        col(14, tp::STRING, 0, 16, 0, &[]),
        col(15, tp::DATE, 0, 10, 0, &[]),
        col(16, tp::DATETIME, 0, 26, 6, &[]),
        col(17, tp::TIMESTAMP, 0, 23, 3, &[]),
        col(18, tp::DURATION, 0, 15, 4, &[]),
        col(19, tp::YEAR, u, 4, 0, &[]),
        col(20, tp::ENUM, 0, 1, 0, &["red", "green", "blue"]),
        col(21, tp::SET, 0, 1, 0, &["a", "b", "c", "d"]),
        col(22, tp::BIT, u, 12, 0, &[]),
        col(23, tp::JSON, 0, 0, 0, &[]),
        col(24, tp::VARCHAR, 0, 32, 0, &[]),
        col(25, tp::LONGLONG, 0, 20, 0, &[]),
        col(26, tp::DOUBLE, 0, 22, -1, &[]),
        col(27, tp::VARCHAR, 0, 32, 0, &[]),
        col(28, tp::LONG, 0, 11, 0, &[]),
        col(29, tp::TIMESTAMP, 0, 19, 0, &[]),
        col(30, tp::NEWDECIMAL, 0, 18, 6, &[]),
    ];
    let table = TableInfo {
        id: 111,
        name: CIStr::new("mixed"),
        pk_is_handle: true,
        columns,
        ..TableInfo::default()
    };
    let t = |s: &str, tt, fsp| Value::Time(parse_time(s, tt, fsp).expect("valid time"));
    let d = |s: &str, p, f| Value::Decimal(Decimal::parse(s, p, f).expect("valid decimal"));
    let values = vec![
        Value::Int(1),
        Value::Int(-7),
        Value::Uint(65_000),
        Value::Int(-8_000_000),
        Value::Uint(4_000_000_000),
        Value::Int(-9_000_000_000_000),
        Value::Float32(3.25),
        Value::Float64(-12345.678),
        d("12345678.90", 10, 2),
        d(
            "-12345678901234567890.123456789012345678901234567890",
            65,
            30,
        ),
        Value::Bytes(
            "the quick brown fox jumps over the lazy dog"
                .repeat(3)
                .into_bytes(),
        ),
        Value::Bytes(b"user@example.com".to_vec()),
        Value::Bytes(vec![0xab; 300]),
        Value::Bytes(b"CN-SH-0001".to_vec()),
        t("2024-02-29", TimeType::Date, 0),
        t("2024-02-29 12:34:56.789012", TimeType::Datetime, 6),
        t("2024-07-01 08:00:00.123", TimeType::Timestamp, 3),
        Value::Duration(parse_duration("-12:34:56.7891", 4).expect("valid duration")),
        Value::Int(2024),
        Value::Enum {
            index: 2,
            name: "green".into(),
        },
        Value::Set {
            bits: 0b1010,
            names: "b,d".into(),
        },
        Value::Bit(vec![0x0a, 0xbc]),
        Value::Json(
            r#"{"id": 1, "tags": ["a", "b"], "price": 12.5, "ok": true, "note": null}"#.into(),
        ),
        Value::Null,
        Value::Int(42),
        Value::Null,
        Value::Bytes(b"status:active".to_vec()),
        Value::Null,
        t("2023-12-31 23:59:59", TimeType::Timestamp, 0),
        d("999.000001", 18, 6),
    ];
    let v = encode(&table, &values, tz);
    (table, v)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_row");
    g.throughput(Throughput::Elements(1));

    let (table, value) = sysbench();
    let dec = RowDecoder::new(&table, TimeZone::Utc);
    let key = encode_record_key(table.id, &Handle::Int(4_999_123)).expect("key");
    dec.decode_row(&key, &value).expect("sysbench row decodes");
    g.bench_function("sysbench", |b| {
        b.iter(|| black_box(dec.decode_row(black_box(&key), black_box(&value))))
    });

    let tz: TimeZone = "Asia/Shanghai".parse().expect("zone");
    let (table, value) = mixed30(&tz);
    let dec = RowDecoder::new(&table, tz);
    let key = encode_record_key(table.id, &Handle::Int(1)).expect("key");
    dec.decode_row(&key, &value).expect("mixed row decodes");
    g.bench_function("mixed30", |b| {
        b.iter(|| black_box(dec.decode_row(black_box(&key), black_box(&value))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
