//! Fuzzing entry points for the decoders that read bytes from TiKV.
//!
//! Owns the bodies of the cargo-fuzz targets `row_v2`, `row_v1`, `decimal` and `json` in
//! `fuzz/` and of the stable-Rust test that replays random and mutated encodings
//! (`tests/it/decode_fuzz_regressions.rs`), so both exercise exactly the same paths: [`RowDecoder::decode_row`] / [`RowDecoder::mount`] over a
//! fixed table of every column type (row format v2 and v1), and the raw decoders (row v2
//! layout, datums, binary decimal, binary JSON).
//!
//! Guarantees checked on every input: no panic, no unbounded allocation, and every row-level
//! error names the table and the key ([`DecodeError::Row`] or [`DecodeError::ForeignKey`]).
//! Each function panics only when one of those guarantees is broken.

use tidb_changefeed::model::TableInfo;
use tidb_changefeed::mount::datum::{Datum, decode_datums};
use tidb_changefeed::mount::decimal::Decimal;
use tidb_changefeed::mount::decoder::RowDecoder;
use tidb_changefeed::mount::error::DecodeError;
use tidb_changefeed::mount::json::{BinaryJson, render};
use tidb_changefeed::mount::key::{Handle, encode_record_key};
use tidb_changefeed::mount::reader::Reader;
use tidb_changefeed::mount::row_v1::decode_row_v1;
use tidb_changefeed::mount::row_v2::RowV2;
use tidb_changefeed::mount::time::{Duration, Time, TimeType, TimeZone};
use tidb_changefeed::mount::value::Value;
use tidb_changefeed::mount::vector::VectorFloat32;

use crate::encode::{encode_row_v1, encode_row_v2, encode_v2_value, value_to_datum};

/// Table id of [`fuzz_table`].
pub const TABLE_ID: i64 = 104;
/// Name of [`fuzz_table`].
pub const TABLE_NAME: &str = "fuzz_all_types";

/// A table with one column of every type the decoder handles (and an int handle).
pub fn fuzz_table() -> TableInfo {
    // (Tp, Flag, Flen, Decimal, Elems, Charset)
    type Col = (u8, u32, i64, i32, &'static [&'static str], &'static str);
    let cols: &[Col] = &[
        (8, 3, 20, 0, &[], "binary"),        // BIGINT PRIMARY KEY (handle)
        (1, 0, 4, 0, &[], "binary"),         // TINYINT
        (3, 32, 10, 0, &[], "binary"),       // INT UNSIGNED
        (9, 0, 9, 0, &[], "binary"),         // MEDIUMINT
        (4, 0, 12, -1, &[], "binary"),       // FLOAT
        (5, 0, 22, -1, &[], "binary"),       // DOUBLE
        (246, 0, 20, 4, &[], "binary"),      // DECIMAL(20,4)
        (246, 0, 65, 30, &[], "binary"),     // DECIMAL(65,30)
        (15, 0, 100, 0, &[], "utf8mb4"),     // VARCHAR(100)
        (254, 128, 8, 0, &[], "binary"),     // BINARY(8)
        (252, 128, 65535, 0, &[], "binary"), // BLOB
        (12, 0, 26, 6, &[], "binary"),       // DATETIME(6)
        (7, 0, 23, 3, &[], "binary"),        // TIMESTAMP(3)
        (10, 0, 10, 0, &[], "binary"),       // DATE
        (11, 0, 15, 4, &[], "binary"),       // TIME(4)
        (13, 32, 4, 0, &[], "binary"),       // YEAR
        (247, 0, -1, 0, &["a", "b", "c"], "utf8mb4"), // ENUM
        (248, 0, -1, 0, &["x", "y", "z"], "utf8mb4"), // SET
        (16, 32, 12, 0, &[], "binary"),      // BIT(12)
        (245, 128, 0, 0, &[], "binary"),     // JSON
        (225, 0, 3, 0, &[], "binary"),       // VECTOR(3)
    ];
    let cols: Vec<serde_json::Value> = cols
        .iter()
        .enumerate()
        .map(|(i, (t, fl, flen, dec, elems, cs))| {
            serde_json::json!({
                "id": i + 1, "name": {"O": format!("c{}", i + 1), "L": format!("c{}", i + 1)},
                "offset": i, "state": 5,
                "type": {"Tp": t, "Flag": fl, "Flen": flen, "Decimal": dec, "Charset": cs,
                         "Collate": if *cs == "binary" { "binary" } else { "utf8mb4_bin" },
                         "Elems": elems},
            })
        })
        .collect();
    let info = serde_json::json!({
        "id": TABLE_ID, "name": {"O": TABLE_NAME, "L": TABLE_NAME}, "cols": cols,
        "state": 5, "pk_is_handle": true,
    });
    // The JSON above is fixed and valid; failing here is a bug in this function.
    #[allow(clippy::expect_used)]
    TableInfo::from_json(info.to_string().as_bytes()).expect("the fuzz table is valid")
}

/// The record key of row `handle` of [`fuzz_table`].
pub fn fuzz_key(handle: i64) -> Vec<u8> {
    // An int handle always encodes.
    encode_record_key(TABLE_ID, &Handle::Int(handle)).unwrap_or_default()
}

fn sample_values(n: i64) -> Vec<Value> {
    let time = |tp, fsp| Time {
        year: 2024,
        month: 2,
        day: 29,
        hour: 23,
        minute: 59,
        second: 58,
        microsecond: 123_000,
        tp,
        fsp,
    };
    let mut date = time(TimeType::Date, 0);
    (date.hour, date.minute, date.second, date.microsecond) = (0, 0, 0, 0);
    vec![
        Value::Int(n),
        Value::Int(-128),
        Value::Uint(4_294_967_295),
        Value::Int(-8_388_608),
        Value::Float32(3.5),
        Value::Float64(-2.25e300),
        Value::Decimal(
            Decimal::parse("-1234567890123456.7891", 20, 4).unwrap_or_else(|_| Decimal::zero()),
        ),
        Value::Decimal(
            Decimal::parse(
                "12345678901234567890.123456789012345678901234567891",
                65,
                30,
            )
            .unwrap_or_else(|_| Decimal::zero()),
        ),
        Value::Bytes("héllo, 世界".as_bytes().to_vec()),
        Value::Bytes(vec![0, 1, 2, 0xff, 0, 0, 0, 0]),
        Value::Bytes(vec![0x80; 40]),
        Value::Time(time(TimeType::Datetime, 6)),
        Value::Time(time(TimeType::Timestamp, 3)),
        Value::Time(date),
        Value::Duration(Duration {
            nanos: -(838 * 3600 + 59 * 60 + 59) * 1_000_000_000,
            fsp: 4,
        }),
        Value::Int(2155),
        Value::Enum {
            index: 2,
            name: "b".into(),
        },
        Value::Set {
            bits: 5,
            names: "x,z".into(),
        },
        Value::Bit(vec![0x0f, 0xff]),
        Value::Json(r#"{"a": [1, -2, 3.5, "s", null, true, {"b": 18446744073709551615}]}"#.into()),
        Value::Vector(VectorFloat32(vec![1.0, -2.5, 3.25])),
    ]
}

/// Valid row values of [`fuzz_table`] as TiDB writes them: v2 and v1 rows, some with NULLs
/// and missing columns. Seeds for the fuzzers and the stable mutation test.
pub fn sample_rows() -> Vec<Vec<u8>> {
    let t = fuzz_table();
    let tz = TimeZone::Utc;
    let mut out = Vec::new();
    for (n, keep) in [(1i64, 0usize), (2, 3), (-5, 7)] {
        let vals = sample_values(n);
        let mut v2: Vec<(i64, Option<Vec<u8>>)> = Vec::new();
        let mut v1: Vec<(i64, Datum)> = Vec::new();
        for (i, (c, v)) in t.columns.iter().zip(&vals).enumerate() {
            // Drop every `keep`-th column (missing) and make the next one NULL.
            if keep > 0 && i % keep == 0 {
                continue;
            }
            let null = keep > 0 && i % keep == 1;
            let enc = if null {
                None
            } else {
                encode_v2_value(v, &tz).ok()
            };
            v2.push((c.id, enc));
            if let Ok(d) = value_to_datum(if null { &Value::Null } else { v }, &tz) {
                v1.push((c.id, d));
            }
        }
        let refs: Vec<(i64, Option<&[u8]>)> = v2.iter().map(|(i, b)| (*i, b.as_deref())).collect();
        out.push(encode_row_v2(&refs));
        if let Ok(b) = encode_row_v1(&v1) {
            out.push(b);
        }
    }
    out
}

/// Checks that a row-level error names the table and the key.
fn check_row_error(e: &DecodeError, key: &[u8]) {
    let key_hex = hex::encode(key);
    match e {
        DecodeError::Row {
            table,
            table_id,
            key_hex: k,
            ..
        }
        | DecodeError::ForeignKey {
            table,
            table_id,
            key_hex: k,
            ..
        } => {
            assert_eq!(table, TABLE_NAME, "row error names the table: {e}");
            assert_eq!(*table_id, TABLE_ID, "row error names the table id: {e}");
            assert!(
                k.eq_ignore_ascii_case(&key_hex),
                "row error names the key: {e}"
            );
        }
        other => panic!("row-level error without table and key: {other}"),
    }
    let text = e.to_string();
    assert!(text.contains(TABLE_NAME), "{text}");
}

/// Row format v2 through [`RowDecoder`]: the first input byte picks the handle (so keys
/// vary), the rest is the row value (the v2 codec byte added if missing); also
/// [`RowDecoder::mount`] with the value as old value, and the raw v2 layout parser.
pub fn row_v2(data: &[u8]) {
    let Some((&h, value)) = data.split_first() else {
        return;
    };
    // The v2 codec byte is added when missing, so every input is read as a v2 row.
    let mut v = Vec::with_capacity(value.len() + 1);
    if value.first() != Some(&tidb_changefeed::mount::row_v2::CODEC_VERSION) {
        v.push(tidb_changefeed::mount::row_v2::CODEC_VERSION);
    }
    v.extend_from_slice(value);
    row_any(i64::from(h) - 128, &v);
    if let Ok(row) = RowV2::parse(&v) {
        for (_, bytes, _) in row.values() {
            let _ = bytes.len();
        }
        let _ = row.checksum();
    }
}

/// Row format v1 (flag-prefixed datums) through [`RowDecoder`], and the raw datum decoders.
pub fn row_v1(data: &[u8]) {
    let Some((&h, value)) = data.split_first() else {
        return;
    };
    if value.first() == Some(&tidb_changefeed::mount::row_v2::CODEC_VERSION) {
        // That is a v2 row; `row_v2` covers it.
        return;
    }
    row_any(i64::from(h) - 128, value);
    let _ = decode_row_v1(value);
    let _ = decode_datums(value);
}

/// The decoder of [`fuzz_table`], built once.
fn decoder() -> &'static RowDecoder {
    static D: std::sync::OnceLock<RowDecoder> = std::sync::OnceLock::new();
    D.get_or_init(|| RowDecoder::new(&fuzz_table(), TimeZone::Utc))
}

/// Any row value for the fuzz table under a key with `handle`; and a key made of the input.
fn row_any(handle: i64, value: &[u8]) {
    let d = decoder();
    let key = fuzz_key(handle);
    match d.decode_row(&key, value) {
        Ok(row) => {
            // Rendering must not panic either.
            for c in &row.columns {
                let _ = c.value.to_string();
                let _ = tidb_changefeed::event::value_text::value_string(&c.value);
            }
        }
        Err(e) => check_row_error(&e, &key),
    }
    if let Err(tidb_changefeed::event::RowError::Decode(e)) = mounted(d, &key, value) {
        check_row_error(&e, &key);
    }
    // The value's bytes as a key.
    if let Err(e) = d.decode_row(value, &[]) {
        check_row_error(&e, value);
    }
}

/// Binary decimal: the first two bytes are precision and frac, the rest the binary form;
/// also the datum form (`[prec][frac][bin]`) over the whole input.
pub fn decimal(data: &[u8]) {
    if let [p, f, rest @ ..] = data {
        let mut r = Reader::new(rest);
        if let Ok(d) = Decimal::from_bin(&mut r, *p, *f) {
            // What decodes re-encodes to bytes that decode to the same value (not always the
            // same bytes: a negative zero reads as zero, as in TiDB).
            let mut buf = Vec::new();
            if d.to_bin(&mut buf).is_ok() {
                let again = Decimal::from_bin(&mut Reader::new(&buf), *p, *f);
                assert_eq!(again.as_ref().ok(), Some(&d), "decimal {d} re-encodes");
            }
        }
    }
    let _ = Decimal::decode_datum(&mut Reader::new(data)).map(|d| d.to_string());
}

/// Binary JSON: the first byte is the type code, the rest the body (row v2 form), rendered as
/// TiDB renders it; also the datum form, and the row path for a JSON column.
pub fn json(data: &[u8]) {
    if let Ok(j) = BinaryJson::from_row_bytes(data) {
        let _ = j.to_text();
    }
    if let [t, body @ ..] = data {
        let _ = render(*t, body);
    }
    if let Ok(j) = BinaryJson::decode_datum(&mut Reader::new(data)) {
        let _ = j.to_text();
    }
    // The same bytes as the JSON column of a v2 row.
    let d = decoder();
    let key = fuzz_key(1);
    let row = encode_row_v2(&[(20, Some(data))]);
    if let Err(e) = d.decode_row(&key, &row) {
        check_row_error(&e, &key);
    }
}

/// A PUT of `value` over itself as old value, through the pipeline's row decoding.
fn mounted(
    d: &RowDecoder,
    key: &[u8],
    value: &[u8],
) -> Result<Option<tidb_changefeed::event::RowEvent>, tidb_changefeed::event::RowError> {
    let change = tidb_changefeed::event::KvChange {
        key: key.to_vec(),
        value: value.to_vec(),
        old_value: Some(value.to_vec()),
        op: tidb_changefeed::event::OpType::Put,
        start_ts: 1,
        commit_ts: 1,
    };
    let meta = std::sync::Arc::new(tidb_changefeed::event::TableMeta::new(d.table()));
    tidb_changefeed::event::RowEvent::decode(&change, d, "s".into(), "t".into(), meta, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_decode_to_the_values_written() {
        let t = fuzz_table();
        let d = RowDecoder::new(&t, TimeZone::Utc);
        let rows = sample_rows();
        assert_eq!(rows.len(), 6);
        let full = d.decode_row(&fuzz_key(1), &rows[0]).expect("decodes");
        let want = sample_values(1);
        let got: Vec<Value> = full.columns.into_iter().map(|c| c.value).collect();
        assert_eq!(got, want);
        for r in &rows {
            d.decode_row(&fuzz_key(1), r).expect("decodes");
        }
    }

    #[test]
    fn row_errors_name_table_and_key() {
        let t = fuzz_table();
        let d = RowDecoder::new(&t, TimeZone::Utc);
        let key = fuzz_key(7);
        let e = d
            .decode_row(&key, &[0x80, 0x00, 0x01])
            .expect_err("truncated");
        check_row_error(&e, &key);
        assert!(e.to_string().contains(&hex::encode(&key)), "{e}");
        match mounted(&d, &key, &[0x80, 0x00, 0x01]) {
            Err(tidb_changefeed::event::RowError::Decode(e)) => check_row_error(&e, &key),
            other => panic!("truncated row: {other:?}"),
        }
        let e = d.decode_row(b"not a key", &[]).expect_err("bad key");
        check_row_error(&e, b"not a key");
    }
}
