//! TiDB binary JSON (`types/json_binary.go`).
//!
//! Owns [`BinaryJson`]: the `[type code][body]` form stored in row values, its rendering to
//! JSON text exactly as TiDB's `BinaryJSON.String()` (keys in stored order, `", "` and
//! `": "` separators, floats as Go's shortest form with `.0` on integers and an exponent
//! outside [1e-15, 1e15), strings escaped like TiDB's `jsonMarshalStringTo`, opaque values as
//! `"base64:type<N>:<base64>"`, dates/times with 6 fraction digits), and encoding from a
//! parsed JSON document the way TiDB's `CreateBinaryJSON` lays it out (keys sorted by bytes,
//! literals inlined). Guarantees: every offset is bounds-checked; bad bytes are errors.

use base64::Engine as _;

use super::error::{DecodeError, EncodeError, does_not_fit};
use super::number::{decode_uvarint, encode_uvarint};
use super::reader::Reader;
use super::time::{Duration, Time, TimeType};

/// JSON type codes.
pub mod type_code {
    pub const OBJECT: u8 = 0x01;
    pub const ARRAY: u8 = 0x03;
    pub const LITERAL: u8 = 0x04;
    pub const INT64: u8 = 0x09;
    pub const UINT64: u8 = 0x0a;
    pub const FLOAT64: u8 = 0x0b;
    pub const STRING: u8 = 0x0c;
    pub const OPAQUE: u8 = 0x0d;
    pub const DATE: u8 = 0x0e;
    pub const DATETIME: u8 = 0x0f;
    pub const TIMESTAMP: u8 = 0x10;
    pub const DURATION: u8 = 0x11;
}

const LITERAL_NULL: u8 = 0;
const LITERAL_TRUE: u8 = 1;
const LITERAL_FALSE: u8 = 2;
const HEADER: usize = 8;
const KEY_ENTRY: usize = 6;
const VALUE_ENTRY: usize = 5;
/// TiDB refuses documents deeper than 100; reading allows some slack, then stops.
const MAX_DEPTH: usize = 100;

/// A binary JSON value: type code and body.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BinaryJson {
    pub type_code: u8,
    pub body: Vec<u8>,
}

impl BinaryJson {
    /// Renders as TiDB does.
    pub fn to_text(&self) -> Result<String, DecodeError> {
        render(self.type_code, &self.body)
    }

    /// Builds the binary form of a parsed JSON document.
    pub fn from_serde(v: &serde_json::Value) -> Result<Self, EncodeError> {
        let mut body = Vec::new();
        let type_code = append_value(&mut body, v, 0)?;
        Ok(BinaryJson { type_code, body })
    }

    /// Parses JSON text and builds its binary form (TiDB `ParseBinaryJSONFromString`).
    pub fn parse(text: &str) -> Result<Self, EncodeError> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| super::error::enc_invalid("JSON text", format!("{text:?}: {e}")))?;
        Self::from_serde(&v)
    }

    /// Reads `[type code][body]` whose body extends to the end of `data` (row format v2).
    pub fn from_row_bytes(data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let type_code = r.read_u8("JSON type code")?;
        Ok(BinaryJson {
            type_code,
            body: r.rest().to_vec(),
        })
    }

    /// Reads `[type code][body]` and only as many bytes as the value occupies (datum form).
    pub fn decode_datum(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let type_code = r.read_u8("JSON type code")?;
        let at = r.pos();
        let len = body_len(type_code, r.rest()).map_err(|e| e.shifted(at))?;
        let body = r.read_bytes(len, "JSON value")?.to_vec();
        Ok(BinaryJson { type_code, body })
    }
}

/// Number of bytes the body of a `type_code` value occupies at the start of `data`.
pub fn body_len(type_code: u8, data: &[u8]) -> Result<usize, DecodeError> {
    use type_code::*;
    let mut r = Reader::new(data);
    let n = match type_code {
        OBJECT | ARRAY => {
            r.read_u32_le("JSON element count")?;
            let size = r.read_u32_le("JSON size")? as usize;
            if size < HEADER {
                return Err(DecodeError::invalid("JSON size", 4, format!("{size}")));
            }
            size
        }
        LITERAL => 1,
        INT64 | UINT64 | FLOAT64 | DATE | DATETIME | TIMESTAMP => 8,
        DURATION => 12,
        STRING => {
            let len = decode_uvarint(&mut r)?;
            r.pos()
                .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
        }
        OPAQUE => {
            r.read_u8("JSON opaque type")?;
            let len = decode_uvarint(&mut r)?;
            r.pos()
                .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
        }
        other => {
            return Err(DecodeError::invalid(
                "JSON type code",
                0,
                format!("{other:#04x}"),
            ));
        }
    };
    if n > data.len() {
        return Err(DecodeError::Truncated {
            what: "JSON value",
            offset: 0,
            needed: n,
            available: data.len(),
        });
    }
    Ok(n)
}

/// Renders a binary JSON value as TiDB's `BinaryJSON.String()`.
pub fn render(type_code: u8, body: &[u8]) -> Result<String, DecodeError> {
    let mut out = String::with_capacity(body.len() + 8);
    let limit = render_limit(body.len());
    render_into(&mut out, type_code, body, 0, 0, limit)?;
    Ok(out)
}

/// Longest text a body of `len` bytes may render to. Without sharing, every byte renders to
/// at most a few characters (`\u00XX` escapes are the worst: 6); container entries are
/// offsets, so a crafted body can point many entries at one sub-value and render
/// exponentially large text from a few bytes. TiDB never writes such bodies.
fn render_limit(len: usize) -> usize {
    len.saturating_mul(16).saturating_add(1024)
}

fn slice<'a>(
    data: &'a [u8],
    start: usize,
    len: usize,
    what: &'static str,
    base: usize,
) -> Result<&'a [u8], DecodeError> {
    data.get(start..start.saturating_add(len))
        .ok_or(DecodeError::Truncated {
            what,
            offset: base + start,
            needed: len,
            available: data.len().saturating_sub(start),
        })
}

fn render_into(
    out: &mut String,
    tc: u8,
    body: &[u8],
    base: usize,
    depth: usize,
    limit: usize,
) -> Result<(), DecodeError> {
    use type_code::*;
    if depth > MAX_DEPTH {
        return Err(DecodeError::invalid("JSON", base, "nested too deeply"));
    }
    if out.len() > limit {
        return Err(DecodeError::invalid(
            "JSON",
            base,
            format!("renders to more than {limit} characters: entries share sub-values"),
        ));
    }
    let mut r = Reader::new(body);
    let err_at = |e: DecodeError| e.shifted(base);
    match tc {
        LITERAL => match r.read_u8("JSON literal").map_err(err_at)? {
            LITERAL_NULL => out.push_str("null"),
            LITERAL_TRUE => out.push_str("true"),
            LITERAL_FALSE => out.push_str("false"),
            x => {
                return Err(DecodeError::invalid(
                    "JSON literal",
                    base,
                    format!("{x:#04x}"),
                ));
            }
        },
        INT64 => {
            let v = r.read_u64_le("JSON int64").map_err(err_at)? as i64;
            out.push_str(&v.to_string());
        }
        UINT64 => {
            let v = r.read_u64_le("JSON uint64").map_err(err_at)?;
            out.push_str(&v.to_string());
        }
        FLOAT64 => {
            let v = f64::from_bits(r.read_u64_le("JSON double").map_err(err_at)?);
            if !v.is_finite() {
                return Err(DecodeError::invalid("JSON double", base, format!("{v}")));
            }
            format_float(out, v);
        }
        STRING => {
            let len = decode_uvarint(&mut r).map_err(err_at)?;
            let s = r
                .read_bytes(usize::try_from(len).unwrap_or(usize::MAX), "JSON string")
                .map_err(err_at)?;
            quote(out, s);
        }
        OPAQUE => {
            let t = r.read_u8("JSON opaque type").map_err(err_at)?;
            let len = decode_uvarint(&mut r).map_err(err_at)?;
            let b = r
                .read_bytes(usize::try_from(len).unwrap_or(usize::MAX), "JSON opaque")
                .map_err(err_at)?;
            out.push_str("\"base64:type");
            out.push_str(&t.to_string());
            out.push(':');
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
            out.push('"');
        }
        DATE | DATETIME | TIMESTAMP => {
            let v = r.read_u64_le("JSON time").map_err(err_at)?;
            let tp = match tc {
                DATE => TimeType::Date,
                DATETIME => TimeType::Datetime,
                _ => TimeType::Timestamp,
            };
            out.push('"');
            out.push_str(&Time::from_core_time(v, tp, 6).to_string());
            out.push('"');
        }
        DURATION => {
            let nanos = r.read_u64_le("JSON duration").map_err(err_at)? as i64;
            r.read_u32_le("JSON duration fsp").map_err(err_at)?;
            out.push('"');
            out.push_str(&Duration { nanos, fsp: 6 }.to_string());
            out.push('"');
        }
        OBJECT | ARRAY => {
            let count = r.read_u32_le("JSON element count").map_err(err_at)? as usize;
            let size = r.read_u32_le("JSON size").map_err(err_at)? as usize;
            let doc = slice(body, 0, size, "JSON container", base)?;
            let is_obj = tc == OBJECT;
            let entries = if is_obj {
                KEY_ENTRY + VALUE_ENTRY
            } else {
                VALUE_ENTRY
            };
            if count.saturating_mul(entries) > doc.len() {
                return Err(DecodeError::invalid(
                    "JSON container",
                    base,
                    format!("{count} elements do not fit in {size} bytes"),
                ));
            }
            out.push(if is_obj { '{' } else { '[' });
            for i in 0..count {
                if i > 0 {
                    out.push_str(", ");
                }
                if is_obj {
                    let ke = slice(
                        doc,
                        HEADER + i * KEY_ENTRY,
                        KEY_ENTRY,
                        "JSON key entry",
                        base,
                    )?;
                    let koff = u32::from_le_bytes([ke[0], ke[1], ke[2], ke[3]]) as usize;
                    let klen = usize::from(u16::from_le_bytes([ke[4], ke[5]]));
                    quote(out, slice(doc, koff, klen, "JSON key", base)?);
                    out.push_str(": ");
                }
                let voff = HEADER + if is_obj { count * KEY_ENTRY } else { 0 } + i * VALUE_ENTRY;
                let ve = slice(doc, voff, VALUE_ENTRY, "JSON value entry", base)?;
                let vt = ve[0];
                if vt == LITERAL {
                    render_into(out, LITERAL, &ve[1..2], base + voff + 1, depth + 1, limit)?;
                } else {
                    let off = u32::from_le_bytes([ve[1], ve[2], ve[3], ve[4]]) as usize;
                    let rest = doc.get(off..).ok_or(DecodeError::Truncated {
                        what: "JSON value",
                        offset: base + off,
                        needed: 1,
                        available: 0,
                    })?;
                    let len = body_len(vt, rest).map_err(|e| e.shifted(base + off))?;
                    render_into(out, vt, &rest[..len], base + off, depth + 1, limit)?;
                }
            }
            out.push(if is_obj { '}' } else { ']' });
        }
        other => {
            return Err(DecodeError::invalid(
                "JSON type code",
                base,
                format!("{other:#04x}"),
            ));
        }
    }
    Ok(())
}

/// Go `strconv.AppendFloat(f, 'f' or 'e', -1, 64)` with TiDB's clean-ups.
fn format_float(out: &mut String, v: f64) {
    let abs = v.abs();
    if abs != 0.0 && !(1e-15..1e15).contains(&abs) {
        // Rust's `{:e}` is Go's shortest 'e' form without '+' and exponent padding, which is
        // exactly what TiDB's clean-up produces (exponents here have at least two digits).
        out.push_str(&format!("{v:e}"));
    } else {
        let s = v.to_string();
        let has_dot = s.contains('.');
        out.push_str(&s);
        if !has_dot {
            out.push_str(".0");
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Quotes bytes as TiDB's `jsonMarshalStringTo` (Go `encoding/json` without HTML escaping,
/// plus `\b` and `\f`; invalid UTF-8 bytes become `\ufffd` one byte at a time).
fn quote(out: &mut String, s: &[u8]) {
    out.push('"');
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                0x08 => out.push_str("\\b"),
                0x0c => out.push_str("\\f"),
                0..=0x1f => {
                    out.push_str("\\u00");
                    out.push(char::from(HEX[usize::from(b >> 4)]));
                    out.push(char::from(HEX[usize::from(b & 0xf)]));
                }
                _ => out.push(char::from(b)),
            }
            i += 1;
            continue;
        }
        match decode_rune(&s[i..]) {
            Some((c, n)) => {
                if c == '\u{2028}' || c == '\u{2029}' {
                    out.push_str(if c == '\u{2028}' {
                        "\\u2028"
                    } else {
                        "\\u2029"
                    });
                } else {
                    out.push(c);
                }
                i += n;
            }
            None => {
                out.push_str("\\ufffd");
                i += 1;
            }
        }
    }
    out.push('"');
}

/// Decodes one non-ASCII UTF-8 scalar like Go's `utf8.DecodeRune` (None = invalid).
fn decode_rune(s: &[u8]) -> Option<(char, usize)> {
    let b0 = *s.first()?;
    let (n, lo, hi) = match b0 {
        0xc2..=0xdf => (2, 0x80, 0xbf),
        0xe0 => (3, 0xa0, 0xbf),
        0xe1..=0xec | 0xee..=0xef => (3, 0x80, 0xbf),
        0xed => (3, 0x80, 0x9f),
        0xf0 => (4, 0x90, 0xbf),
        0xf1..=0xf3 => (4, 0x80, 0xbf),
        0xf4 => (4, 0x80, 0x8f),
        _ => return None,
    };
    let b1 = *s.get(1)?;
    if !(lo..=hi).contains(&b1) {
        return None;
    }
    for k in 2..n {
        if !(0x80..=0xbf).contains(s.get(k)?) {
            return None;
        }
    }
    std::str::from_utf8(&s[..n])
        .ok()?
        .chars()
        .next()
        .map(|c| (c, n))
}

fn append_value(buf: &mut Vec<u8>, v: &serde_json::Value, depth: usize) -> Result<u8, EncodeError> {
    use serde_json::Value as J;
    use type_code::*;
    if depth > MAX_DEPTH {
        return Err(does_not_fit("JSON", "document nested deeper than 100"));
    }
    Ok(match v {
        J::Null => {
            buf.push(LITERAL_NULL);
            LITERAL
        }
        J::Bool(b) => {
            buf.push(if *b { LITERAL_TRUE } else { LITERAL_FALSE });
            LITERAL
        }
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                buf.extend_from_slice(&i.to_le_bytes());
                INT64
            } else if let Some(u) = n.as_u64() {
                buf.extend_from_slice(&u.to_le_bytes());
                UINT64
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                buf.extend_from_slice(&f.to_bits().to_le_bytes());
                FLOAT64
            }
        }
        J::String(s) => {
            encode_uvarint(buf, s.len() as u64);
            buf.extend_from_slice(s.as_bytes());
            STRING
        }
        J::Array(items) => {
            let doc = buf.len();
            buf.extend_from_slice(&(items.len() as u32).to_le_bytes());
            buf.extend_from_slice(&[0; 4]);
            let entries = buf.len();
            buf.resize(entries + items.len() * VALUE_ENTRY, 0);
            for (i, item) in items.iter().enumerate() {
                append_elem(buf, doc, entries + i * VALUE_ENTRY, item, depth)?;
            }
            finish_container(buf, doc)?;
            ARRAY
        }
        J::Object(map) => {
            let doc = buf.len();
            let mut fields: Vec<(&String, &serde_json::Value)> = map.iter().collect();
            fields.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            buf.extend_from_slice(&(fields.len() as u32).to_le_bytes());
            buf.extend_from_slice(&[0; 4]);
            let keys = buf.len();
            buf.resize(keys + fields.len() * KEY_ENTRY, 0);
            let values = buf.len();
            buf.resize(values + fields.len() * VALUE_ENTRY, 0);
            for (i, (k, _)) in fields.iter().enumerate() {
                let klen = u16::try_from(k.len())
                    .map_err(|_| does_not_fit("JSON object key", "longer than 65535 bytes"))?;
                let koff = container_offset(buf.len() - doc)?;
                let e = keys + i * KEY_ENTRY;
                buf[e..e + 4].copy_from_slice(&koff.to_le_bytes());
                buf[e + 4..e + 6].copy_from_slice(&klen.to_le_bytes());
                buf.extend_from_slice(k.as_bytes());
            }
            for (i, (_, item)) in fields.iter().enumerate() {
                append_elem(buf, doc, values + i * VALUE_ENTRY, item, depth)?;
            }
            finish_container(buf, doc)?;
            OBJECT
        }
    })
}

fn container_offset(n: usize) -> Result<u32, EncodeError> {
    u32::try_from(n).map_err(|_| does_not_fit("JSON", "document larger than 4 GiB"))
}

fn finish_container(buf: &mut [u8], doc: usize) -> Result<(), EncodeError> {
    let size = container_offset(buf.len() - doc)?;
    buf[doc + 4..doc + 8].copy_from_slice(&size.to_le_bytes());
    Ok(())
}

fn append_elem(
    buf: &mut Vec<u8>,
    doc: usize,
    entry: usize,
    v: &serde_json::Value,
    depth: usize,
) -> Result<(), EncodeError> {
    let start = buf.len();
    let tc = append_value(buf, v, depth + 1)?;
    if tc == type_code::LITERAL {
        let lit = buf[start];
        buf.truncate(start);
        buf[entry] = tc;
        buf[entry + 1] = lit;
    } else {
        let off = container_offset(start - doc)?;
        buf[entry] = tc;
        buf[entry + 1..entry + 5].copy_from_slice(&off.to_le_bytes());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::mount::unhex;

    /// `levels` nested arrays whose two entries both point at the next level: a few hundred
    /// bytes that render to 2^levels leaves.
    fn shared_arrays(levels: usize) -> Vec<u8> {
        let mut body = Vec::new();
        for k in 0..levels {
            let below = levels - k - 1;
            body.extend_from_slice(&2u32.to_le_bytes());
            body.extend_from_slice(&(u32::try_from(18 * below + 26).unwrap()).to_le_bytes());
            for _ in 0..2 {
                body.push(type_code::ARRAY);
                body.extend_from_slice(&18u32.to_le_bytes());
            }
        }
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&8u32.to_le_bytes());
        body
    }

    #[test]
    fn shared_sub_values_cannot_blow_up_rendering() {
        // Few levels: legitimate (if odd) document, rendered in full.
        assert_eq!(
            render(type_code::ARRAY, &shared_arrays(1)).unwrap(),
            "[[], []]"
        );
        assert_eq!(
            render(type_code::ARRAY, &shared_arrays(2)).unwrap(),
            "[[[], []], [[], []]]"
        );
        // 2^60 leaves from ~1 KB: an error, quickly, instead of exhausting memory.
        let e = render(type_code::ARRAY, &shared_arrays(60)).unwrap_err();
        assert!(e.to_string().contains("share sub-values"), "{e}");
    }

    fn render_hex(hex: &str) -> Result<String, DecodeError> {
        let b = unhex(hex);
        BinaryJson::decode_datum(&mut Reader::new(&b))?.to_text()
    }

    /// V4 column 15: `{"key":"value"}` from TIKV row/v2/encoder_for_test.rs test_encode,
    /// rendered with TiDB's separators.
    #[test]
    fn v4_object() {
        let hex = "01010000001c0000001300000003000c160000006b65790576616c7565";
        assert_eq!(render_hex(hex).unwrap(), r#"{"key": "value"}"#);
        let enc = BinaryJson::parse(r#"{"key":"value"}"#).unwrap();
        let mut b = vec![enc.type_code];
        b.extend_from_slice(&enc.body);
        assert_eq!(b, unhex(hex));
    }

    /// Derived vectors of upstream.md §3.9.
    #[test]
    fn derived_vectors() {
        for (hex, text, src) in [
            (
                "01010000001c0000001300000001000914000000610200000000000000",
                r#"{"a": 2}"#,
                r#"{"a":2}"#,
            ),
            ("0c026869", r#""hi""#, r#""hi""#),
            ("0400", "null", "null"),
            ("0b000000000000f83f", "1.5", "1.5"),
            (
                "030400000026000000091c0000000c240000000400000000040100000001000000000000000178",
                r#"[1, "x", null, true]"#,
                r#"[1,"x",null,true]"#,
            ),
        ] {
            assert_eq!(render_hex(hex).unwrap(), text);
            let enc = BinaryJson::parse(src).unwrap();
            let mut b = vec![enc.type_code];
            b.extend_from_slice(&enc.body);
            assert_eq!(b, unhex(hex), "{src}");
        }
    }

    /// TIDB pkg/types/json_binary_test.go:36 `TestBinaryJSONMarshalUnmarshal`: parse, then
    /// `String()` gives the same text back.
    #[test]
    fn tidb_marshal_unmarshal() {
        for text in [
            r#"{"a": [1, "2", {"aa": "bb"}, 4, null], "b": true, "c": null}"#,
            r#"{"aaaaaaaaaaa": [1, "2", {"aa": "bb"}, 4.1], "bbbbbbbbbb": true, "ccccccccc": "d"}"#,
            r#"[{"a": 1, "b": true}, 3, 3.5, "hello, world", null, true]"#,
            r#"{"a": "&<>"}"#,
        ] {
            assert_eq!(BinaryJson::parse(text).unwrap().to_text().unwrap(), text);
        }
    }

    #[test]
    fn floats_like_go() {
        let cases = [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e14, "100000000000000.0"),
            (1e15, "1e15"),
            (1.5e-16, "1.5e-16"),
            (1e-15, "0.000000000000001"),
            (-2.5e20, "-2.5e20"),
            (123.456, "123.456"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            format_float(&mut s, v);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn string_escapes_like_tidb() {
        let mut s = String::new();
        quote(
            &mut s,
            b"a\"b\\c\n\t\x08\x0c\x01<>&\x7f\xe2\x80\xa8\xff\xe4\xb8",
        );
        assert_eq!(
            s,
            "\"a\\\"b\\\\c\\n\\t\\b\\f\\u0001<>&\u{7f}\\u2028\\ufffd\\ufffd\\ufffd\""
        );
    }

    #[test]
    fn opaque_time_duration() {
        // opaque: MySQL type 0xfd (var_string), 2 bytes
        assert_eq!(
            render(type_code::OPAQUE, &[0xfd, 2, 0x01, 0x02]).unwrap(),
            r#""base64:type253:AQI=""#
        );
        // CoreTime of 2024-01-02 03:04:05.5 (checked in tests/emulator/src/encode/time.rs)
        let body = 0x1fa0_4431_057a_1200u64.to_le_bytes();
        assert_eq!(
            render(type_code::DATETIME, &body).unwrap(),
            r#""2024-01-02 03:04:05.500000""#
        );
        assert_eq!(render(type_code::DATE, &body).unwrap(), r#""2024-01-02""#);
        let mut d = (-1_500_000_000i64).to_le_bytes().to_vec();
        d.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(
            render(type_code::DURATION, &d).unwrap(),
            r#""-00:00:01.500000""#
        );
    }

    #[test]
    fn bad_bytes_are_errors() {
        for hex in [
            "",
            "01",
            "0100000000",
            "01010000001c00000013000000",       // truncated container
            "0101000000ff0000001300000003000c", // size beyond data
            "0c05686869",                       // string longer than data
            "0403",                             // unknown literal
            "0b000000000000f07f",               // +Inf
            "ee00",                             // unknown type
            "0302000000090000000000",           // entries beyond size
        ] {
            assert!(render_hex(hex).is_err(), "{hex}");
        }
        // deep nesting is refused when encoding
        let deep = "[".repeat(120) + &"]".repeat(120);
        assert!(BinaryJson::parse(&deep).is_err());
    }

    fn json_strategy() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|i| serde_json::json!(i)),
            any::<u64>().prop_map(|u| serde_json::json!(u)),
            proptest::num::f64::NORMAL.prop_map(|f| serde_json::json!(f)),
            ".{0,12}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(".{0,6}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Structural equality; floats compared by their shortest text, since serde_json's
    /// default float parser is not exact in the last bit.
    fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value as J;
        match (a, b) {
            (J::Number(x), J::Number(y)) if x.is_f64() || y.is_f64() => {
                let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                x == y || ((x - y) / y).abs() < 1e-15
            }
            (J::Array(x), J::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
            }
            (J::Object(x), J::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((ka, a), (kb, b))| ka == kb && same(a, b))
            }
            _ => a == b,
        }
    }

    proptest! {
        /// Encode, render, and parse the rendering back: same document.
        #[test]
        fn roundtrip(v in json_strategy()) {
            let bj = BinaryJson::from_serde(&v).unwrap();
            let text = bj.to_text().unwrap();
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            prop_assert!(same(&back, &v), "{back} vs {v}");
            let mut datum = vec![bj.type_code];
            datum.extend_from_slice(&bj.body);
            let mut r = Reader::new(&datum);
            prop_assert_eq!(BinaryJson::decode_datum(&mut r).unwrap(), bj);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn garbage_never_panics(tc in 0u8..0x14, body: Vec<u8>) {
            let _ = render(tc, &body);
        }
    }
}
