//! Replays of the golden corpus kinds `datum` and `default-value` through the mounter: every
//! value goes through [`RowDecoder`], the path the pipeline uses for every row.
//!
//! * `default-value`: a one-column table whose column is absent from the (empty) v2 row value,
//!   so the decoder fills it in from the origin default or the zero value, as TiCDC's mounter.
//! * `datum`: the case's input text becomes the column's origin default (the decoder converts
//!   it to the column type: TiDB's `Datum` for that text), the resulting value is written back
//!   as the column's stored v2 bytes and read again by the decoder, and both must equal the
//!   case's expectation. JSON cases go from TiDB's binary JSON bytes through the decoder.
//!
//! Cases whose expectation is about an encoder we do not have (TiDB's `ToBin` truncating a
//! decimal, TiDB's chunk decoder) are replayed on the decode side only, and counted.

use serde_json::Value as J;
use tidb_changefeed::model::TableInfo;
use tidb_changefeed::mount::json::{BinaryJson, type_code};
use tidb_changefeed::mount::key::encode_record_key;
use tidb_changefeed::mount::{Decimal, Handle, RowDecoder, TimeZone, Value, ValueOrigin};
use tidb_changefeed_emulator::encode::{encode_row_v2, encode_v2_value};

fn cases(file: &str) -> Vec<J> {
    let path = format!("{}/tests/corpus/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: J = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    doc["cases"].as_array().cloned().expect("cases")
}

const COL: i64 = 1;

/// A one-column table (column id 1) of the case's type; `origin_default` as TiDB stores it.
fn table(ty: &J, origin_default: Option<J>, origin_default_bit: Option<&[u8]>) -> TableInfo {
    let mut ft = serde_json::json!({"Tp": 0, "Flag": 0, "Flen": -1, "Decimal": -1,
                                    "Charset": "utf8mb4", "Collate": "utf8mb4_bin"});
    for (k, v) in ty.as_object().expect("type object") {
        ft[k] = v.clone();
    }
    let mut col = serde_json::json!({
        "id": COL, "name": {"O": "c", "L": "c"}, "offset": 0, "state": 5, "type": ft,
        "origin_default": origin_default,
    });
    if let Some(b) = origin_default_bit {
        use base64::Engine as _;
        col["origin_default_bit"] = base64::engine::general_purpose::STANDARD.encode(b).into();
    }
    let info =
        serde_json::json!({"id": 104, "name": {"O": "t", "L": "t"}, "cols": [col], "state": 5});
    TableInfo::from_json(info.to_string().as_bytes()).expect("table info")
}

fn key() -> Vec<u8> {
    encode_record_key(104, &Handle::Int(1)).expect("key")
}

/// The column's value in a row that does not store it.
fn missing(t: &TableInfo, tz: TimeZone) -> Result<Value, String> {
    let row = RowDecoder::new(t, tz)
        .decode_row(&key(), &encode_row_v2(&[]))
        .map_err(|e| e.to_string())?;
    assert_eq!(row.columns.len(), 1);
    assert_eq!(row.columns[0].origin, ValueOrigin::Default);
    Ok(row.columns[0].value.clone())
}

/// The column's value in a row storing `stored` (v2 bytes of the column).
fn stored(t: &TableInfo, tz: TimeZone, stored: &[u8]) -> Value {
    let row = RowDecoder::new(t, tz)
        .decode_row(&key(), &encode_row_v2(&[(COL, Some(stored))]))
        .expect("row decodes");
    assert_eq!(row.columns[0].origin, ValueOrigin::Stored);
    row.columns[0].value.clone()
}

/// Writes `v` as the column's stored bytes and reads it back through the decoder.
fn round_trip(t: &TableInfo, v: &Value) -> Value {
    let bytes = encode_v2_value(v, &TimeZone::Utc).expect("encodes");
    stored(t, TimeZone::Utc, &bytes)
}

/// Integer of an enum index, set bitmask, BIT value or unsigned integer.
fn as_uint(v: &Value) -> Option<u64> {
    match v {
        Value::Uint(u) => Some(*u),
        Value::Enum { index, .. } => Some(*index),
        Value::Set { bits, .. } => Some(*bits),
        Value::Bit(_) => v.bit_as_u64(),
        _ => None,
    }
}

fn num(s: &J) -> u64 {
    s.as_str()
        .map(|x| x.parse().expect("u64"))
        .or_else(|| s.as_u64())
        .expect("number")
}

#[test]
fn default_value_vectors_replay() {
    let all = cases("default_values.json");
    assert_eq!(all.len(), 47);
    for c in &all {
        let id = &c["id"];
        let tz: TimeZone = c["time_zone"]
            .as_str()
            .map_or(TimeZone::Utc, |z| z.parse().expect("zone"));
        // A Go value in TiCDC's test (`float32(-3.1415)`) is what TiDB's TableInfo JSON holds
        // as a number.
        let origin = match &c["origin_default"] {
            J::Null => None,
            J::String(s) => Some(J::String(s.clone())),
            J::Object(o) => {
                let go = o["go"].as_str().expect("go literal");
                let inner = go
                    .strip_prefix("float32(")
                    .and_then(|r| r.strip_suffix(')'))
                    .unwrap_or_else(|| panic!("{id}: Go literal {go}"));
                Some(serde_json::from_str(inner).expect("number"))
            }
            other => panic!("{id}: origin_default {other}"),
        };
        let t = table(&c["type"], origin, None);
        let got = missing(&t, tz).unwrap_or_else(|e| panic!("{id}: {e}"));
        let want = &c["expect"];
        let kind = want["kind"].as_str().expect("kind");
        let kind_ok = match (kind, &got) {
            ("null", Value::Null)
            | ("int", Value::Int(_))
            | ("float32", Value::Float32(_))
            | ("float64", Value::Float64(_))
            | ("decimal", Value::Decimal(_))
            | ("time", Value::Time(_))
            | ("duration", Value::Duration(_))
            | ("json", Value::Json(_)) => true,
            ("uint", v) => as_uint(v).is_some(),
            ("bytes", Value::Bytes(b)) => {
                hex::decode(want["hex"].as_str().expect("hex")).expect("hex") == *b
            }
            _ => false,
        };
        assert!(kind_ok, "{id}: want {want}, got {got:?}");
        if let Some(v) = want["value"].as_str() {
            let text = match kind {
                "uint" => as_uint(&got).expect("uint").to_string(),
                _ => got.to_string(),
            };
            assert_eq!(text, v, "{id}");
        }
    }
}

#[test]
fn datum_vectors_replay() {
    let all = cases("datums.json");
    assert_eq!(all.len(), 37);
    // Cases replayed on the decode side only, with the reason.
    let mut decode_side_only: Vec<String> = Vec::new();
    for c in &all {
        let id = c["id"].as_str().expect("id");
        let ty = &c["type"];
        let want = &c["expect"];
        let tp = ty["Tp"].as_u64().expect("Tp");
        if tp == 245 {
            replay_json(id, c);
            continue;
        }
        if let Some(status) = want["status"].as_str() {
            if replay_decimal_codec(id, c, status) {
                decode_side_only.push(format!("{id} ({status})"));
            }
            continue;
        }
        if let Some(stored_at) = c.get("stored") {
            // The value was written with a frac other than the column's (TestDecodeDecimalFspNotMatch).
            let p = u8::try_from(stored_at["prec"].as_u64().expect("prec")).expect("u8");
            let f = u8::try_from(stored_at["frac"].as_u64().expect("frac")).expect("u8");
            let text = c["text"].as_str().expect("text");
            let d = Decimal::parse(text, p, f).expect("decimal");
            let got = round_trip(&table(ty, None, None), &Value::Decimal(d));
            // TiCDC mounts with TiDB's DatumMapDecoder, which keeps the stored frac; the
            // chunk decoder's rounding to the column scale is not TiCDC's path.
            assert_eq!(got.to_string(), text, "{id}: TiCDC keeps the stored frac");
            assert!(want["chunk_decoder_string"].is_string(), "{id}");
            decode_side_only.push(format!("{id} (chunk decoder)"));
            continue;
        }
        let (t, got) = match (c["text"].as_str(), c["text_hex"].as_str()) {
            (Some(text), _) => {
                let t = table(ty, Some(J::String(text.into())), None);
                let v = missing(&t, TimeZone::Utc).unwrap_or_else(|e| panic!("{id}: {e}"));
                (t, v)
            }
            (None, Some(h)) => {
                let raw = hex::decode(h).expect("hex");
                let t = table(ty, Some(J::String("x".into())), Some(&raw));
                let v = missing(&t, TimeZone::Utc).unwrap_or_else(|e| panic!("{id}: {e}"));
                (t, v)
            }
            _ => panic!("{id}: no input"),
        };
        let back = round_trip(&t, &got);
        assert_eq!(back, got, "{id}: stored bytes read back");
        if let Some(p) = want.get("packed_u64") {
            let Value::Time(tm) = &got else {
                panic!("{id}: {got:?}")
            };
            assert_eq!(tm.to_packed(), num(p), "{id}");
            assert_eq!(got.to_string(), c["text"].as_str().expect("text"), "{id}");
        } else if let Some(n) = want.get("nanoseconds") {
            let Value::Duration(d) = &got else {
                panic!("{id}: {got:?}")
            };
            assert_eq!(d.nanos, i64::try_from(num(n)).expect("i64"), "{id}");
        } else if let Some(u) = want.get("uint") {
            assert_eq!(as_uint(&got), Some(num(u)), "{id}: {got:?}");
            if let (Some(text), Value::Enum { name, .. } | Value::Set { names: name, .. }) =
                (c["text"].as_str(), &got)
            {
                assert_eq!(name, text, "{id}");
            }
        } else if let Some(i) = want.get("int") {
            assert_eq!(got, Value::Int(i64::try_from(num(i)).expect("i64")), "{id}");
        } else if let Some(s) = want.get("string") {
            assert_eq!(Some(got.to_string().as_str()), s.as_str(), "{id}");
        } else {
            panic!("{id}: expectation {want} has no replay");
        }
    }
    assert_eq!(
        decode_side_only.len(),
        5,
        "decode-side-only cases: {decode_side_only:?}"
    );
}

/// TiKV `test_codec`: the text written with (prec, frac) as a row decimal, read back, printed.
/// Returns true when only the decode side applies: TiDB's `ToBin` truncates extra fraction
/// digits and drops integer digits that overflow, while our encoder (the emulator's, standing
/// for an INSERT) rounds and refuses overflow. The bytes TiDB writes for the truncated value
/// are then replayed through the decoder.
fn replay_decimal_codec(id: &str, c: &J, status: &str) -> bool {
    let ty = &c["type"];
    let p = u8::try_from(ty["Flen"].as_u64().expect("Flen")).expect("u8");
    let f = u8::try_from(ty["Decimal"].as_u64().expect("Decimal")).expect("u8");
    let text = c["text"].as_str().expect("text");
    let decoded = c["expect"]["decoded_string"].as_str().expect("decoded");
    let t = table(ty, None, None);
    let read_back = |d: Decimal| round_trip(&t, &Value::Decimal(d)).to_string();
    match status {
        "ok" => {
            let d = Decimal::parse(text, p, f).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(read_back(d), decoded, "{id}");
            false
        }
        "truncated" | "overflow" => {
            if status == "overflow" {
                assert!(
                    Decimal::parse(text, p, f).is_err(),
                    "{id}: {text} must not fit DECIMAL({p},{f})"
                );
            }
            let d = Decimal::parse(decoded, p, f).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(read_back(d), decoded, "{id}");
            true
        }
        other => panic!("{id}: status {other}"),
    }
}

/// Binary JSON for a TiKV test's value description.
fn json_of(desc: &str) -> BinaryJson {
    if let Some(rest) = desc.strip_prefix("opaque, mysql type ") {
        // "opaque, mysql type 253 (VarString), bytes abcd"
        let tp: u8 = rest.split(' ').next().expect("tp").parse().expect("u8");
        let bytes = hex::decode(desc.rsplit(' ').next().expect("bytes")).expect("hex");
        let mut body = vec![tp, u8::try_from(bytes.len()).expect("short")];
        body.extend_from_slice(&bytes);
        return BinaryJson {
            type_code: type_code::OPAQUE,
            body,
        };
    }
    let text = desc
        .strip_prefix("object ")
        .or_else(|| desc.strip_prefix("array "))
        .or_else(|| desc.strip_prefix("int64 "))
        .or_else(|| desc.strip_prefix("float64 "))
        .unwrap_or(desc);
    BinaryJson::parse(text).expect("JSON")
}

fn replay_json(id: &str, c: &J) {
    let bj = match (c["text"].as_str(), c["value_desc"].as_str()) {
        (Some(text), _) => BinaryJson::parse(text).unwrap_or_else(|e| panic!("{id}: {e}")),
        (None, Some(desc)) => json_of(desc),
        _ => panic!("{id}: no input"),
    };
    let want = &c["expect"];
    if let Some(kind) = want["json_number_kind"].as_str() {
        let code = match kind {
            "int64" => type_code::INT64,
            "uint64" => type_code::UINT64,
            "float64" => type_code::FLOAT64,
            other => panic!("{id}: kind {other}"),
        };
        assert_eq!(bj.type_code, code, "{id}");
    }
    // Stored as the row's JSON bytes, decoded by the mounter.
    let mut bytes = vec![bj.type_code];
    bytes.extend_from_slice(&bj.body);
    let got = stored(&table(&c["type"], None, None), TimeZone::Utc, &bytes);
    let Value::Json(text) = &got else {
        panic!("{id}: {got:?}")
    };
    if let Some(s) = want["string"].as_str() {
        assert_eq!(text, s, "{id}");
    }
    if let Some(n) = want["json_number_equals"].as_str() {
        // TiKV's Json equality compares numbers of any kind by value.
        let a: f64 = text.parse().expect("number");
        let b: f64 = n.parse().expect("number");
        assert_eq!(a, b, "{id}");
    }
}
