//! Golden tests of the Open protocol encoder. TiCDC's own open-protocol tests
//! (tiflow v8.5.7 `pkg/sink/codec/open/open_protocol_encoder_test.go`,
//! `open_protocol_message_test.go`) check by decoding their own output or by sizes; each case
//! below takes such a test's input and states the exact bytes TiCDC's code writes for it
//! (Go `encoding/json` of `MessageKey` / `messageRow` / `messageDDL`, cited per test), or the
//! size the test asserts. Values of every type follow `internal/column.go` and the docs'
//! column type table (`ticdc/ticdc-open-protocol.md`); where the docs' examples are older
//! than the code (no `f`, VARCHAR as base64, no `rid`), the code wins.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use super::*;
use crate::event::test_support::{col, ft};
use crate::event::{RowKind, TableMeta};
use crate::model::{
    ActionType, ColumnInfo, IndexColumn, IndexInfo, SchemaState, TableInfo, flag, tp,
};
use crate::mount::{Decimal, TimeType, Value};

fn table(cols: Vec<ColumnInfo>, pk_is_handle: bool, common_handle: bool) -> Arc<TableMeta> {
    let mut indices = Vec::new();
    if common_handle {
        indices.push(IndexInfo {
            id: 1,
            name: crate::model::CIStr::new("PRIMARY"),
            columns: vec![IndexColumn {
                name: cols[0].name.clone(),
                offset: 0,
                length: -1,
            }],
            state: SchemaState::PUBLIC,
            unique: true,
            primary: true,
            ..IndexInfo::default()
        });
    }
    Arc::new(TableMeta::new(&TableInfo {
        id: 100,
        name: crate::model::CIStr::new("t"),
        columns: cols,
        indices,
        pk_is_handle,
        is_common_handle: common_handle,
        ..TableInfo::default()
    }))
}

fn row(
    meta: &Arc<TableMeta>,
    kind: RowKind,
    new: Option<Vec<Value>>,
    old: Option<Vec<Value>>,
) -> RowEvent {
    RowEvent {
        schema: "test".into(),
        table: "t".into(),
        meta: Arc::clone(meta),
        commit_ts: 424_000_000_000_000_001,
        physical_id: 100,
        row_id: 0,
        kind,
        new,
        old,
    }
}

fn events(r: &Record) -> (Vec<String>, Vec<String>) {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    message::events(r)
        .expect("a framed record")
        .into_iter()
        .map(|(k, v)| (text(k), text(v)))
        .unzip()
}

fn enc() -> OpenEncoder {
    OpenEncoder::new(OpenConfig::default())
}

/// `open_protocol_message_test.go` `TestVarBinaryCol` (a BINARY column, `model.BinaryFlag`,
/// PNG header bytes) and `TestFormatCol` (`测` in a CHAR and in a BLOB column).
#[test]
fn binary_and_text_strings() {
    let meta = table(
        vec![
            col(1, "bin", ft(tp::STRING, flag::BINARY, 8, 0, "binary")),
            col(2, "chr", ft(tp::STRING, 0, 8, 0, "utf8mb4")),
            col(3, "blb", ft(tp::BLOB, flag::BINARY, 65535, 0, "binary")),
            col(4, "txt", ft(tp::TINY_BLOB, 0, 255, 0, "utf8mb4")),
        ],
        false,
        false,
    );
    let ev = row(
        &meta,
        RowKind::Insert,
        Some(vec![
            Value::Bytes(vec![0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
            Value::Bytes("测".as_bytes().to_vec()),
            Value::Bytes("测".as_bytes().to_vec()),
            // docs column type table: TINYTEXT "测试text" → 5rWL6K+VdGV4dA==
            Value::Bytes("测试text".as_bytes().to_vec()),
        ]),
        None,
    );
    let (_, values) = events(&enc().encode_row(&TableCodec::NONE, &ev).unwrap().unwrap());
    assert_eq!(
        values,
        [concat!(
            r#"{"u":{"bin":{"t":254,"f":65,"v":"\\x89PNG\\r\\n\\x1a\\n"},"#,
            r#""blb":{"t":252,"f":65,"v":"5rWL"},"#,
            r#""chr":{"t":254,"f":64,"v":"测"},"#,
            r#""txt":{"t":249,"f":64,"v":"5rWL6K+VdGV4dA=="}}}"#
        )]
    );
}

/// Every other type's value rule (`internal/column.go`, `mounter.go` `formatColVal`; docs
/// column type table), the key with `rid` (the int handle) and Go's HTML escaping.
#[test]
fn every_type_and_the_key() {
    let d = |s: &str| Value::Decimal(Decimal::parse(s, 13, 7).unwrap());
    let time = |tp, s: &str, fsp| Value::Time(crate::mount::time::parse_time(s, tp, fsp).unwrap());
    let meta = table(
        vec![
            col(
                1,
                "id",
                ft(tp::LONG, flag::PRI_KEY | flag::NOT_NULL, 11, 0, "binary"),
            ),
            col(2, "u64", ft(tp::LONGLONG, flag::UNSIGNED, 20, 0, "binary")),
            col(3, "f", ft(tp::FLOAT, 0, 12, -1, "binary")),
            col(4, "dbl", ft(tp::DOUBLE, 0, 22, -1, "binary")),
            col(5, "dec", ft(tp::NEWDECIMAL, 0, 13, 7, "binary")),
            col(6, "ts", ft(tp::TIMESTAMP, 0, 19, 0, "binary")),
            col(7, "dt", ft(tp::DATETIME, 0, 23, 3, "binary")),
            col(8, "dat", ft(tp::DATE, 0, 10, 0, "binary")),
            col(9, "tm", ft(tp::DURATION, 0, 10, 0, "binary")),
            col(
                10,
                "yr",
                ft(tp::YEAR, flag::UNSIGNED | flag::ZEROFILL, 4, 0, "binary"),
            ),
            col(11, "b", ft(tp::BIT, flag::UNSIGNED, 8, 0, "binary")),
            col(12, "j", ft(tp::JSON, 0, -1, 0, "binary")),
            col(13, "e", ft(tp::ENUM, 0, -1, 0, "utf8mb4")),
            col(14, "s", ft(tp::SET, 0, -1, 0, "utf8mb4")),
            col(15, "vc", ft(tp::VARCHAR, 0, 32, 0, "utf8mb4")),
            col(16, "n", ft(tp::LONG, 0, 11, 0, "binary")),
        ],
        true,
        false,
    );
    let mut ev = row(
        &meta,
        RowKind::Insert,
        Some(vec![
            Value::Int(123),
            Value::Uint(u64::MAX),
            Value::Float32(153.123),
            Value::Float64(153.123),
            d("129012.1230000"),
            time(TimeType::Timestamp, "1973-12-30 15:30:00", 0),
            time(TimeType::Datetime, "2015-12-20 23:58:58.5", 3),
            time(TimeType::Date, "2000-01-01", 0),
            Value::Duration(crate::mount::time::parse_duration("23:59:59", 0).unwrap()),
            Value::Int(1970),
            Value::Bit(vec![81]),
            Value::Json(r#"{"key1": "value1"}"#.into()),
            Value::Enum {
                index: 1,
                name: "a".into(),
            },
            Value::Set {
                bits: 3,
                names: "a,b".into(),
            },
            Value::Bytes(b"<a&b>\x08".to_vec()),
            Value::Null,
        ]),
        None,
    );
    ev.row_id = 123;
    let (keys, values) = events(&enc().encode_row(&TableCodec::NONE, &ev).unwrap().unwrap());
    assert_eq!(
        keys,
        [r#"{"ts":424000000000000001,"scm":"test","tbl":"t","rid":123,"t":1}"#]
    );
    assert_eq!(
        values,
        [concat!(
            r#"{"u":{"b":{"t":16,"f":193,"v":81},"#,
            r#""dat":{"t":10,"f":65,"v":"2000-01-01"},"#,
            r#""dbl":{"t":5,"f":65,"v":153.123},"#,
            r#""dec":{"t":246,"f":65,"v":"129012.1230000"},"#,
            r#""dt":{"t":12,"f":65,"v":"2015-12-20 23:58:58.500"},"#,
            r#""e":{"t":247,"f":64,"v":1},"#,
            r#""f":{"t":4,"f":65,"v":153.123},"#,
            r#""id":{"t":3,"h":true,"f":11,"v":123},"#,
            r#""j":{"t":245,"f":65,"v":"{\"key1\": \"value1\"}"},"#,
            r#""n":{"t":3,"f":65,"v":null},"#,
            r#""s":{"t":248,"f":64,"v":3},"#,
            r#""tm":{"t":11,"f":65,"v":"23:59:59"},"#,
            r#""ts":{"t":7,"f":65,"v":"1973-12-30 15:30:00"},"#,
            r#""u64":{"t":8,"f":193,"v":18446744073709551615},"#,
            r#""vc":{"t":15,"f":64,"v":"\u003ca\u0026b\u003e\b"},"#,
            r#""yr":{"t":13,"f":193,"v":1970}}}"#
        )]
    );
}

/// Update (with and without `output-old-value`, `only-output-updated-columns`) and delete
/// (with `delete-only-output-handle-key-columns`), `open_protocol_encoder_test.go`
/// `TestOutputOldValueFalse` and `open_protocol_message_test.go` `TestOnlyOutputUpdatedColumn`,
/// `TestRowChanged2MsgOnlyHandleKeyColumns`; the table `t (a int primary key, b int, c int)`.
#[test]
fn updates_deletes_and_options() {
    let meta = table(
        vec![
            col(
                1,
                "a",
                ft(tp::LONG, flag::PRI_KEY | flag::NOT_NULL, 11, 0, "binary"),
            ),
            col(2, "b", ft(tp::LONG, 0, 11, 0, "binary")),
            col(3, "c", ft(tp::LONG, 0, 11, 0, "binary")),
        ],
        true,
        false,
    );
    let v = |a, b, c| Some(vec![Value::Int(a), Value::Int(b), Value::Int(c)]);
    let upd = row(&meta, RowKind::Update, v(1, 2, 1), v(1, 1, 1));
    let del = row(&meta, RowKind::Delete, None, v(1, 1, 1));
    let value = |e: &OpenEncoder, ev: &RowEvent| {
        events(&e.encode_row(&TableCodec::NONE, ev).unwrap().unwrap()).1[0].clone()
    };
    // Binary (charset binary) | HandleKey | PrimaryKey.
    let a = r#""a":{"t":3,"h":true,"f":11,"v":1}"#;
    let col = |n: &str, x: i64| format!(r#""{n}":{{"t":3,"f":65,"v":{x}}}"#);
    assert_eq!(
        value(&enc(), &upd),
        format!(
            "{{\"u\":{{{a},{},{}}},\"p\":{{{a},{},{}}}}}",
            col("b", 2),
            col("c", 1),
            col("b", 1),
            col("c", 1)
        )
    );
    let no_old = OpenEncoder::new(OpenConfig {
        output_old_value: false,
        ..OpenConfig::default()
    });
    assert_eq!(
        value(&no_old, &upd),
        format!("{{\"u\":{{{a},{},{}}}}}", col("b", 2), col("c", 1))
    );
    let updated_only = OpenEncoder::new(OpenConfig {
        only_output_updated_columns: true,
        ..OpenConfig::default()
    });
    assert_eq!(
        value(&updated_only, &upd),
        format!(
            "{{\"u\":{{{a},{},{}}},\"p\":{{{}}}}}",
            col("b", 2),
            col("c", 1),
            col("b", 1)
        )
    );
    assert_eq!(
        value(&enc(), &del),
        format!("{{\"d\":{{{a},{},{}}}}}", col("b", 1), col("c", 1))
    );
    let key_only = OpenEncoder::new(OpenConfig {
        delete_only_output_handle_key_columns: true,
        ..OpenConfig::default()
    });
    assert_eq!(value(&key_only, &del), format!("{{\"d\":{{{a}}}}}"));
    // Large message, handle-key only: `ohk` in the key, only `a` in u and p.
    let r = enc()
        .encode_row_reduced(&TableCodec::NONE, &upd, Reduction::HandleKeyOnly)
        .unwrap()
        .unwrap();
    let (k, v) = events(&r);
    assert_eq!(
        k,
        [r#"{"ts":424000000000000001,"scm":"test","tbl":"t","t":1,"ohk":true}"#]
    );
    assert_eq!(v, [format!("{{\"u\":{{{a}}},\"p\":{{{a}}}}}")]);
    let r = enc()
        .encode_row_reduced(
            &TableCodec::NONE,
            &upd,
            Reduction::ClaimCheck {
                location: "file:///tmp/cc/x.json",
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        events(&r).0,
        [r#"{"ts":424000000000000001,"scm":"test","tbl":"t","t":1,"ccl":"file:///tmp/cc/x.json"}"#]
    );
}

/// `TestRowChanged2MsgOnlyHandleKeyColumns`: a table without a handle key cannot be reduced.
#[test]
fn no_handle_key_cannot_be_reduced() {
    let meta = table(
        vec![
            col(1, "id", ft(tp::VARCHAR, 0, 10, 0, "utf8mb4")),
            col(2, "a", ft(tp::VARCHAR, 0, 10, 0, "utf8mb4")),
        ],
        false,
        false,
    );
    let ev = row(
        &meta,
        RowKind::Insert,
        Some(vec![
            Value::Bytes(b"1".to_vec()),
            Value::Bytes(b"1".to_vec()),
        ]),
        None,
    );
    let err = enc()
        .encode_row_reduced(&TableCodec::NONE, &ev, Reduction::HandleKeyOnly)
        .unwrap_err();
    assert!(err.to_string().contains("no handle key columns"), "{err}");
}

/// `open_protocol_encoder_test.go` `TestMaxMessageBytes`: the event of `insert into test.t
/// values ("aa", "bb")` into `t(a varchar(10) primary key, b varchar(10))` (clustered, so no
/// `rid`) just fits 188 bytes of `max-message-bytes` and not 187; with 256, no record holds
/// two of them. `TestMaxBatchSize`: 10000 of them with `max-batch-size` 64 make records of at
/// most 64 events, 10000 in all.
#[test]
fn max_message_bytes_and_max_batch_size() {
    let meta = table(
        vec![
            col(
                1,
                "a",
                ft(
                    tp::VARCHAR,
                    flag::PRI_KEY | flag::NOT_NULL,
                    10,
                    0,
                    "utf8mb4",
                ),
            ),
            col(2, "b", ft(tp::VARCHAR, 0, 10, 0, "utf8mb4")),
        ],
        false,
        true,
    );
    let mut ev = row(
        &meta,
        RowKind::Insert,
        Some(vec![
            Value::Bytes(b"aa".to_vec()),
            Value::Bytes(b"bb".to_vec()),
        ]),
        None,
    );
    ev.commit_ts = 424_000_000_000_000_000; // an 18-digit ts, as the test's mock store gives
    let one = enc().encode_row(&TableCodec::NONE, &ev).unwrap().unwrap();
    assert_eq!(
        events(&one).1,
        [r#"{"u":{"a":{"t":15,"h":true,"f":10,"v":"aa"},"b":{"t":15,"f":64,"v":"bb"}}}"#]
    );
    assert_eq!(one.length(), 188, "TiCDC: 188 just holds it");

    let batch_up = |e: &OpenEncoder, n: usize, limit: u64| -> Vec<usize> {
        let mut sizes = Vec::new();
        let mut open: Option<(Record, usize)> = None;
        for _ in 0..n {
            let next = e.encode_row(&TableCodec::NONE, &ev).unwrap().unwrap();
            let appended = match open.as_mut() {
                Some((b, rows)) => {
                    let ok = e.append_to_batch(b, *rows, &next, limit);
                    if ok {
                        *rows += 1;
                    }
                    ok
                }
                None => false,
            };
            match appended {
                true => {}
                false => {
                    if let Some((b, rows)) = open.take() {
                        assert!(b.length() as u64 <= limit);
                        assert_eq!(events(&b).0.len(), rows);
                        sizes.push(rows);
                    }
                    open = Some((next, 1));
                }
            }
        }
        if let Some((_, rows)) = open {
            sizes.push(rows);
        }
        sizes
    };
    assert!(batch_up(&enc(), 50, 256).iter().all(|&n| n == 1));
    let big = OpenEncoder::new(OpenConfig {
        max_batch_size: 64,
        ..OpenConfig::default()
    });
    let sizes = batch_up(&big, 10_000, 1_048_576);
    assert_eq!(sizes.iter().sum::<usize>(), 10_000);
    assert!(sizes.iter().all(|&n| n <= 64));
    assert_eq!(sizes.len(), 157, "156 full records of 64 and one of 16");
    // The byte limit closes a record before the count does: 188 + k × (128 + 16) ≤ 700.
    assert_eq!(batch_up(&big, 10, 700)[0], 4);
}

/// DDL and resolved events (`TestE2EDDLCompression`'s shapes; docs example logs 1-2).
#[test]
fn ddl_and_resolved_events() {
    let ddl = DdlEvent {
        query: "CREATE TABLE test.t1(id int primary key, val varchar(16))".into(),
        action: ActionType::CREATE_TABLE,
        table: crate::event::TableName {
            schema: "test".into(),
            table: "t1".into(),
        },
        pre_table: None,
        meta: None,
        table_info: None,
        start_ts: 1,
        commit_ts: 415_508_856_908_021_766,
    };
    let (k, v) = events(&enc().encode_ddl(&ddl).unwrap().unwrap());
    assert_eq!(
        k,
        [r#"{"ts":415508856908021766,"scm":"test","tbl":"t1","t":2}"#]
    );
    assert_eq!(
        v,
        [r#"{"q":"CREATE TABLE test.t1(id int primary key, val varchar(16))","t":3}"#]
    );
    let r = enc()
        .encode_watermark(415_508_856_908_021_766)
        .unwrap()
        .unwrap();
    let (k, v) = events(&r);
    assert_eq!(k, [r#"{"ts":415508856908021766,"t":3}"#]);
    assert_eq!(v, [""]);
    assert_eq!(r.value.as_deref().unwrap(), &[0u8; 8]);
}

/// A partitioned table's rows name their partition's physical id.
#[test]
fn partitioned_tables_carry_ptn() {
    let mut info = TableInfo {
        id: 100,
        name: crate::model::CIStr::new("t"),
        columns: vec![col(
            1,
            "id",
            ft(tp::LONG, flag::PRI_KEY | flag::NOT_NULL, 11, 0, "binary"),
        )],
        pk_is_handle: true,
        ..TableInfo::default()
    };
    info.partition = Some(crate::model::PartitionInfo {
        enable: true,
        ..Default::default()
    });
    let meta = Arc::new(TableMeta::new(&info));
    let mut ev = row(&meta, RowKind::Insert, Some(vec![Value::Int(7)]), None);
    ev.physical_id = 112;
    ev.row_id = 7;
    let (k, _) = events(&enc().encode_row(&TableCodec::NONE, &ev).unwrap().unwrap());
    assert_eq!(
        k,
        [r#"{"ts":424000000000000001,"scm":"test","tbl":"t","rid":7,"ptn":112,"t":1}"#]
    );
}

/// A prepared table version (its column order computed once) encodes the same bytes.
#[tokio::test]
async fn prepared_tables_encode_the_same() {
    let meta = table(
        vec![
            col(
                1,
                "z",
                ft(tp::LONG, flag::PRI_KEY | flag::NOT_NULL, 11, 0, "binary"),
            ),
            col(2, "b", ft(tp::VARCHAR, 0, 10, 0, "utf8mb4")),
            col(3, "a", ft(tp::LONG, 0, 11, 0, "binary")),
        ],
        true,
        false,
    );
    let ev = row(
        &meta,
        RowKind::Insert,
        Some(vec![
            Value::Int(1),
            Value::Bytes(b"x".to_vec()),
            Value::Null,
        ]),
        None,
    );
    let e = enc();
    let prepared = e.prepare_table("test", "t", &meta, "topic").await.unwrap();
    let with = e.encode_row(&prepared, &ev).unwrap().unwrap();
    let without = e.encode_row(&TableCodec::NONE, &ev).unwrap().unwrap();
    assert_eq!(with, without);
    assert!(events(&with).1[0].starts_with(r#"{"u":{"a":"#));
}
