//! Replays TiCDC's own Avro test data (`tests/corpus/vectors/avro_schema.json`,
//! `avro_values.json`, each case citing tiflow's test file and line) through our encoder:
//! every column's schema type text and every whole-record schema text must be TiCDC's byte
//! for byte; every column value must encode to the stated native value — checked by decoding
//! our bytes with the `apache-avro` crate against our own schema text — and to the bytes the
//! Avro specification gives for it.

use std::sync::Arc;

use apache_avro::types::Value as AvroValue;
use serde_json::Value as J;
use tidb_changefeed::codec::avro::binary;
use tidb_changefeed::codec::avro::schema::{self, AvroModes};
use tidb_changefeed::config::{AvroBigintUnsignedMode, AvroDecimalMode};
use tidb_changefeed::event::TableMeta;
use tidb_changefeed::model::{CIStr, ColumnInfo, FieldType, SchemaState, TableInfo, tp};
use tidb_changefeed::mount::time::{TimeType, parse_duration, parse_time};
use tidb_changefeed::mount::{Decimal, Value};

fn cases(file: &str) -> Vec<J> {
    let path = format!("{}/tests/corpus/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: J = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    doc["cases"].as_array().cloned().expect("cases")
}

fn modes(c: &J) -> AvroModes {
    let m = &c["modes"];
    AvroModes {
        enable_tidb_extension: m["enable-tidb-extension"].as_bool().unwrap_or(false),
        decimal: if m["avro-decimal-handling-mode"] == "string" {
            AvroDecimalMode::String
        } else {
            AvroDecimalMode::Precise
        },
        bigint_unsigned: if m["avro-bigint-unsigned-handling-mode"] == "string" {
            AvroBigintUnsignedMode::String
        } else {
            AvroBigintUnsignedMode::Long
        },
    }
}

/// A TiDB column from a case's column spec (TiDB's `FieldType` JSON names).
fn column(spec: &J, offset: i64) -> ColumnInfo {
    let t = &spec["type"];
    let tp = u8::try_from(t["Tp"].as_u64().expect("Tp")).expect("type code");
    ColumnInfo {
        id: spec["id"].as_i64().expect("id"),
        name: CIStr::new(spec["name"].as_str().expect("name")),
        offset,
        field_type: FieldType {
            tp,
            flag: u32::try_from(t["Flag"].as_u64().unwrap_or(0)).expect("flag"),
            flen: t["Flen"].as_i64().unwrap_or(-1),
            decimal: t["Decimal"]
                .as_i64()
                .and_then(|d| i32::try_from(d).ok())
                .unwrap_or(-1),
            charset: t["Charset"].as_str().unwrap_or("binary").to_owned(),
            elems: t["Elems"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            ..FieldType::default()
        },
        default: spec.get("default_value").filter(|v| !v.is_null()).cloned(),
        state: SchemaState::PUBLIC,
        ..ColumnInfo::default()
    }
}

fn table(name: &str, columns: Vec<ColumnInfo>, pk_is_handle: bool) -> TableInfo {
    TableInfo {
        id: 100,
        name: CIStr::new(name),
        columns,
        pk_is_handle,
        ..TableInfo::default()
    }
}

#[test]
fn every_column_type_text_is_ticdcs() {
    let all = cases("avro_schema.json");
    let mut checked = 0;
    for c in all.iter().filter(|c| c["op"] == "column_type") {
        let id = c["id"].as_str().unwrap_or("?");
        let col = column(&c["column"], 0);
        let name = schema::sanitize_name(&col.name.o);
        let meta = TableMeta::new(&table("t", vec![col], false));
        let plan = schema::record(&meta, "s", "t", &[0], &modes(c), false).expect(id);
        let want_type = c["expect"]["type_text"].as_str().expect("type_text");
        let want = format!(
            "{{\"type\":\"record\",\"name\":\"t\",\"namespace\":\"default.s\",\"fields\":[{{\"name\":\"{name}\",\"type\":{want_type}}}]}}"
        );
        assert_eq!(plan.schema, want, "{id} ({})", c["source"]);
        apache_avro::Schema::parse_str(&plan.schema)
            .unwrap_or_else(|e| panic!("{id}: Apache Avro rejects our schema: {e}"));
        checked += 1;
    }
    assert_eq!(checked, 38, "every column_type case");
}

#[test]
fn whole_record_schema_texts_are_ticdcs() {
    let all = cases("avro_schema.json");
    let mut checked = Vec::new();
    for c in all.iter().filter(|c| c["op"] == "value_record") {
        let id = c["id"].as_str().unwrap_or("?");
        if c["modes"]["enable-row-checksum"] == true {
            // Row-level checksums (`[integrity] integrity-check-level`) are not built: the
            // configuration has no such setting, so this layout cannot be asked for.
            continue;
        }
        let t = &c["table"];
        let cols: Vec<ColumnInfo> = c["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .enumerate()
            .map(|(i, spec)| column(spec, i as i64))
            .collect();
        let info = table(
            t["table"].as_str().expect("table"),
            cols,
            t["pk_is_handle"] == true,
        );
        let meta = TableMeta::new(&info);
        let positions: Vec<usize> = (0..meta.columns.len()).collect();
        let m = modes(c);
        let plan = schema::record(
            &meta,
            t["schema"].as_str().expect("schema"),
            &info.name.o,
            &positions,
            &m,
            m.enable_tidb_extension,
        )
        .expect(id);
        let want = c["expect"]["compact_text"].as_str().expect("compact_text");
        assert_eq!(plan.schema, want, "{id} ({})", c["source"]);
        apache_avro::Schema::parse_str(&plan.schema)
            .unwrap_or_else(|e| panic!("{id}: Apache Avro rejects our schema: {e}"));
        checked.push(id.to_owned());
    }
    assert_eq!(
        checked,
        ["record-without-extension", "record-with-extension"],
        "the record texts replayed (the checksum layout is not built)"
    );
}

/// Our typed value for a case's input.
fn value(input: &J, col: &ColumnInfo) -> Value {
    let text = input["value"].as_str().unwrap_or_default();
    match input["kind"].as_str().expect("kind") {
        "int" => Value::Int(text.parse().expect("int")),
        "uint" => Value::Uint(text.parse().expect("uint")),
        "float32" => Value::Float32(text.parse().expect("f32")),
        "float64" => Value::Float64(text.parse().expect("f64")),
        "bit" => {
            let n: u64 = text.parse().expect("bit");
            Value::Bit(n.to_be_bytes().to_vec())
        }
        "decimal" => {
            let frac = text.split_once('.').map_or(0, |(_, f)| f.len());
            let digits = text.chars().filter(char::is_ascii_digit).count();
            let d = Decimal::parse(
                text,
                u8::try_from(digits).expect("precision"),
                u8::try_from(frac).expect("frac"),
            )
            .expect("decimal");
            Value::Decimal(d)
        }
        "bytes" => Value::Bytes(hex::decode(input["hex"].as_str().expect("hex")).expect("hex")),
        "enum" => {
            let i: u64 = text.parse().expect("enum");
            Value::Enum {
                index: i,
                name: col.field_type.elems[(i - 1) as usize].clone(),
            }
        }
        "set" => {
            let bits: u64 = text.parse().expect("set");
            let names: Vec<&str> = col
                .field_type
                .elems
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, e)| e.as_str())
                .collect();
            Value::Set {
                bits,
                names: names.join(","),
            }
        }
        "json" => Value::Json(text.to_owned()),
        "time" => {
            let tt = match col.field_type.tp {
                tp::DATE => TimeType::Date,
                tp::TIMESTAMP => TimeType::Timestamp,
                _ => TimeType::Datetime,
            };
            Value::Time(parse_time(text, tt, 0).expect("time"))
        }
        "duration" => Value::Duration(parse_duration(text, 0).expect("duration")),
        other => panic!("input kind {other}"),
    }
}

/// A number stated as a JSON number or as its text.
fn number(v: &J) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// The case's expected native value, as Apache Avro's Rust decoder yields it.
fn matches_native(got: &AvroValue, want: &J, expect: &J) -> bool {
    match got {
        AvroValue::Int(i) => want.as_i64() == Some(i64::from(*i)),
        AvroValue::Long(l) => want.as_i64() == Some(*l),
        AvroValue::Float(f) => number(want).is_some_and(|w| *f == w as f32),
        AvroValue::Double(d) => number(want) == Some(*d),
        AvroValue::String(s) => want.as_str() == Some(s.as_str()),
        AvroValue::Bytes(b) => {
            expect["bytes_hex"].as_str().map(str::to_owned) == Some(hex::encode(b))
                || want.as_str().map(str::as_bytes) == Some(b.as_slice())
                || expect["value_hex"].as_str() == Some(hex::encode(b).as_str())
        }
        AvroValue::Decimal(d) => {
            let bytes: Vec<u8> = d.try_into().unwrap_or_default();
            expect["unscaled_hex"].as_str() == Some(hex::encode(&bytes).as_str())
                || expect["value_hex"].as_str() == Some(hex::encode(&bytes).as_str())
        }
        _ => false,
    }
}

#[test]
fn every_column_value_encodes_to_ticdcs_native_value() {
    let all = cases("avro_values.json");
    let mut checked = 0;
    for c in all.iter().filter(|c| c["op"] == "column_value") {
        let id = c["id"].as_str().unwrap_or("?");
        let col = column(&c["column"], 0);
        let v = value(&c["input"], &col);
        let meta = Arc::new(TableMeta::new(&table("t", vec![col], false)));
        let plan = schema::record(&meta, "s", "t", &[0], &modes(c), false).expect(id);
        let mut body = Vec::new();
        binary::record(&mut body, &plan, &[v], "", 0).unwrap_or_else(|e| panic!("{id}: {e:?}"));
        if let Some(want) = c["derived_binary_hex"].as_str() {
            assert_eq!(hex::encode(&body), want, "{id}: Avro bytes");
        }
        let avro_schema = apache_avro::Schema::parse_str(&plan.schema).expect("schema");
        #[allow(deprecated)] // the plain datum reader; its replacement is a builder for the same
        let decoded = apache_avro::from_avro_datum(&avro_schema, &mut body.as_slice(), None)
            .unwrap_or_else(|e| panic!("{id}: Apache Avro cannot read our bytes: {e}"));
        let AvroValue::Record(fields) = decoded else {
            panic!("{id}: not a record");
        };
        let (_, got) = &fields[0];
        let expect = &c["expect"];
        assert!(
            matches_native(got, &expect["value"], expect) || expect["value"].is_null(),
            "{id}: decoded {got:?}, TiCDC states {expect}"
        );
        checked += 1;
    }
    assert_eq!(checked, 38, "every column_value case");
}

#[test]
fn the_confluent_envelope_is_magic_zero_and_the_id() {
    let c = cases("avro_values.json")
        .into_iter()
        .find(|c| c["op"] == "confluent_envelope")
        .expect("envelope case");
    let mut out = Vec::new();
    binary::envelope(
        &mut out,
        i32::try_from(c["schema_id"].as_i64().expect("id")).expect("i32"),
    );
    assert_eq!(
        hex::encode(&out),
        c["derived_header_hex"].as_str().expect("header")
    );
}

#[test]
fn avro_name_vectors_replay() {
    let all = cases("avro_names.json");
    for c in &all {
        let id = c["id"].as_str().unwrap_or("?");
        let got = match c["op"].as_str() {
            Some("sanitize_name") => schema::sanitize_name(c["input"].as_str().expect("input")),
            Some("namespace") => schema::namespace(
                c["input"][0].as_str().expect("namespace"),
                c["input"][1].as_str().expect("schema"),
            ),
            other => panic!("{id}: op {other:?}"),
        };
        assert_eq!(got, c["expect"].as_str().expect("expect"), "{id}");
    }
    assert_eq!(all.len(), 8, "every avro-names case");
}
