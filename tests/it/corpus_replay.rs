//! Replays of the golden corpus (tests/corpus/vectors) through our code, for the kinds whose
//! code exists: TiKV's byte codecs and TiCDC's record keys (`kv-codec`), TiKV's v2 rows
//! (`row-value`), and TiCDC's
//! PositionInertia hash and column value strings (`dispatch-hash`). Every case of a replayed
//! kind must pass; the cases that cannot apply are counted and named.

use serde_json::Value as J;
use tidb_changefeed::dispatch::PositionInertia;
use tidb_changefeed::mount::Value;
use tidb_changefeed::mount::bytes::{decode_bytes, encode_bytes};
use tidb_changefeed::mount::key::{Handle, decode_record_key};
use tidb_changefeed::mount::reader::Reader;
use tidb_changefeed_emulator::encode::encode_compact_bytes;

fn cases(file: &str) -> Vec<J> {
    let path = format!("{}/tests/corpus/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: J = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    doc["cases"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{path}: no cases"))
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

fn text<'a>(c: &'a J, field: &str) -> &'a str {
    c[field]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no {field}", c["id"]))
}

#[test]
fn kv_codec_vectors_replay() {
    let all = cases("keys.json");
    assert!(!all.is_empty());
    for c in &all {
        let id = &c["id"];
        match text(c, "op") {
            "memcomparable_bytes" => {
                let raw = unhex(text(c, "raw_hex"));
                let enc = unhex(text(c, "encoded_hex"));
                let mut out = Vec::new();
                encode_bytes(&mut out, &raw);
                assert_eq!(out, enc, "{id}: encode");
                let mut r = Reader::new(&enc);
                assert_eq!(decode_bytes(&mut r).expect("decodes"), raw, "{id}: decode");
                assert!(r.is_empty(), "{id}: trailing bytes");
            }
            "compact_bytes" => {
                let raw = unhex(text(c, "raw_hex"));
                let mut out = Vec::new();
                encode_compact_bytes(&mut out, &raw);
                assert_eq!(out, unhex(text(c, "encoded_hex")), "{id}");
            }
            "decode_record_key" => {
                let (table, handle) =
                    decode_record_key(&unhex(text(c, "key_hex"))).expect("decodes");
                assert_eq!(Some(table), c["expect"]["table_id"].as_i64(), "{id}");
                assert_eq!(
                    Some(handle),
                    c["expect"]["int_handle"].as_i64().map(Handle::Int),
                    "{id}"
                );
            }
            other => panic!("{id}: kv-codec op {other:?} has no replay"),
        }
    }
}

/// The mounter's value for TiCDC's Go test literal, or None where the literal is a Go type
/// our mounter never produces (bool: TiDB's BOOL is TINYINT).
fn go_literal(lit: &str) -> Option<Value> {
    let inner = |p: &str| lit.strip_prefix(p).and_then(|r| r.strip_suffix(')'));
    if lit == "interface{}(nil)" {
        return Some(Value::Null);
    }
    if lit == "true" || lit == "false" {
        return None;
    }
    if let Ok(i) = lit.parse::<i64>() {
        return Some(Value::Int(i));
    }
    for p in ["int8(", "int16(", "int32(", "int64("] {
        if let Some(v) = inner(p) {
            return v.parse().ok().map(Value::Int);
        }
    }
    for p in ["uint8(", "uint16(", "uint32(", "uint64("] {
        if let Some(v) = inner(p) {
            return v.parse().ok().map(Value::Uint);
        }
    }
    if let Some(v) = inner("float32(") {
        return v.parse().ok().map(Value::Float32);
    }
    if let Some(v) = inner("float64(") {
        return v.parse().ok().map(Value::Float64);
    }
    if let Some(s) = lit
        .strip_prefix("[]byte(\"")
        .and_then(|r| r.strip_suffix("\")"))
    {
        return Some(Value::Bytes(s.as_bytes().to_vec()));
    }
    if let Some(s) = lit.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return Some(Value::Bytes(s.as_bytes().to_vec()));
    }
    panic!("unknown Go literal {lit:?}")
}

#[test]
fn dispatch_hash_vectors_replay() {
    let all = cases("dispatch_hash.json");
    let mut not_applicable = Vec::new();
    for c in &all {
        let id = &c["id"];
        match text(c, "op") {
            "position_inertia" => {
                let mut h = PositionInertia::new();
                for w in c["writes"].as_array().expect("writes") {
                    let parts: Vec<&[u8]> = w
                        .as_array()
                        .expect("write")
                        .iter()
                        .map(|p| p.as_str().expect("part").as_bytes())
                        .collect();
                    h.write(&parts);
                }
                assert_eq!(
                    Some(u64::from(h.sum32())),
                    c["expect_sum32"].as_u64(),
                    "{id}"
                );
            }
            "column_value_string" => match go_literal(text(c, "go_value")) {
                Some(v) => {
                    let got = tidb_changefeed::event::value_text::value_string(&v);
                    assert_eq!(String::from_utf8_lossy(&got), text(c, "expect"), "{id}");
                }
                None => not_applicable.push(id.to_string()),
            },
            other => panic!("{id}: dispatch-hash op {other:?} has no replay"),
        }
    }
    assert_eq!(
        not_applicable.len(),
        2,
        "only the two Go bool cases are not applicable: {not_applicable:?}"
    );
}

/// TableInfo JSON with one column per vector column (`type` as the vector gives it).
fn table_for(columns: &[J]) -> tidb_changefeed::model::TableInfo {
    let cols: Vec<J> = columns
        .iter()
        .enumerate()
        .map(|(offset, c)| {
            let id = c["id"].as_i64().expect("column id");
            serde_json::json!({
                "id": id,
                "name": {"O": format!("c{id}"), "L": format!("c{id}")},
                "offset": offset,
                "state": 5,
                "type": c["type"],
            })
        })
        .collect();
    let info =
        serde_json::json!({"id": 104, "name": {"O": "t", "L": "t"}, "cols": cols, "state": 5});
    tidb_changefeed::model::TableInfo::from_json(info.to_string().as_bytes()).expect("table info")
}

#[test]
fn row_value_vectors_replay() {
    use tidb_changefeed::mount::key::encode_record_key;
    use tidb_changefeed::mount::{RowDecoder, TimeZone};
    let all = cases("row_values.json");
    assert!(!all.is_empty());
    for c in &all {
        let id = &c["id"];
        assert_eq!(
            text(c, "format"),
            "v2",
            "{id}: only v2 rows are in the corpus"
        );
        let columns = c["columns"].as_array().expect("columns");
        let decoder = RowDecoder::new(&table_for(columns), TimeZone::Utc);
        let key = encode_record_key(104, &Handle::Int(1)).expect("key");
        let row = decoder
            .decode_row(&key, &unhex(text(c, "value_hex")))
            .expect("decodes");
        for col in columns {
            let cid = col["id"].as_i64().expect("id");
            let got = &row
                .columns
                .iter()
                .find(|d| d.id == cid)
                .unwrap_or_else(|| panic!("{id}: column {cid} missing"))
                .value;
            let want = &col["expect"];
            let kind_ok = match (want["kind"].as_str().expect("kind"), got) {
                ("null", Value::Null) => true,
                ("int", Value::Int(_))
                | ("uint", Value::Uint(_))
                | ("float64", Value::Float64(_)) => true,
                ("decimal", Value::Decimal(_))
                | ("time", Value::Time(_))
                | ("duration", Value::Duration(_)) => true,
                ("json", Value::Json(_)) => true,
                ("bytes", Value::Bytes(b)) => {
                    want["hex"].as_str().map(unhex).as_deref() == Some(b.as_slice())
                }
                _ => false,
            };
            assert!(kind_ok, "{id}: column {cid}: want {want}, got {got:?}");
            if let Some(v) = want["value"].as_str() {
                assert_eq!(got.to_string(), v, "{id}: column {cid}");
            }
        }
    }
}
