//! Avro binary encoding of one record, following a [`RecordPlan`], and the Confluent
//! envelope around it.
//!
//! Written by hand for the fixed record layout rather than through a generic value tree:
//! each field is written straight from the row's typed value (see the `avro` bench for the
//! difference); the `apache-avro` crate decodes our bytes in the tests to check them.
//!
//! Guarantees (Avro 1.11 spec, goavro as TiCDC drives it): `int`/`long` are zig-zag varints,
//! `float`/`double` little-endian IEEE, `string`/`bytes` a zig-zag length and the bytes, a
//! union the zig-zag branch index and the value; a precise decimal is the minimal big-endian
//! two's-complement bytes of its unscaled value at the schema's scale (0 → `00`, 128 →
//! `00 80`, -1 → `ff`, digits beyond the scale floored as goavro's `big.Int.Div` does); BIT is the minimal big-endian bytes of its integer (at least one byte). The
//! envelope is `0x00`, the schema id as a 4-byte big-endian integer, then the body.

use super::schema::{FieldKind, FieldPlan, Nullability, RecordPlan};
use crate::event::value_text::write_value_string;
use crate::mount::Value;

/// Why a value could not be written.
pub type WriteError = String;

fn zigzag(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn len_prefixed(out: &mut Vec<u8>, b: &[u8]) {
    zigzag(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// The Confluent envelope: magic byte 0 and the schema id.
pub fn envelope(out: &mut Vec<u8>, schema_id: i32) {
    out.push(0);
    out.extend_from_slice(&schema_id.to_be_bytes());
}

/// Writes the record of `values` (positional against the table metadata); the extension
/// fields, when the plan has them, from `op` and `commit_ts`.
pub fn record(
    out: &mut Vec<u8>,
    plan: &RecordPlan,
    values: &[Value],
    op: &str,
    commit_ts: u64,
) -> Result<(), (usize, WriteError)> {
    for f in &plan.fields {
        let v = values.get(f.position).unwrap_or(&Value::Null);
        field(out, f, v).map_err(|e| (f.position, e))?;
    }
    if plan.extension {
        len_prefixed(out, op.as_bytes());
        zigzag(out, commit_ts as i64);
        zigzag(out, (commit_ts >> 18) as i64);
    }
    Ok(())
}

fn field(out: &mut Vec<u8>, f: &FieldPlan, v: &Value) -> Result<(), WriteError> {
    match (f.nullability, v.is_null()) {
        (Nullability::Required, true) => {
            return Err("NULL in a NOT NULL column".to_string());
        }
        (Nullability::Required, false) => {}
        (Nullability::NullFirst, true) => {
            zigzag(out, 0);
            return Ok(());
        }
        (Nullability::NullFirst, false) => zigzag(out, 1),
        (Nullability::NullSecond, true) => {
            zigzag(out, 1);
            return Ok(());
        }
        (Nullability::NullSecond, false) => zigzag(out, 0),
    }
    value(out, f.kind, v)
}

fn mismatch(kind: FieldKind, v: &Value) -> WriteError {
    format!("{v:?} cannot be written as {kind:?}")
}

fn value(out: &mut Vec<u8>, kind: FieldKind, v: &Value) -> Result<(), WriteError> {
    match (kind, v) {
        (FieldKind::Int, Value::Int(i)) => zigzag(out, i64::from(*i as i32)),
        (FieldKind::Int, Value::Uint(u)) => zigzag(out, i64::from(*u as i32)),
        (FieldKind::Long, Value::Int(i)) => zigzag(out, *i),
        (FieldKind::Long, Value::Uint(u)) => zigzag(out, *u as i64),
        (FieldKind::UnsignedText, Value::Uint(u)) => len_prefixed(out, u.to_string().as_bytes()),
        (FieldKind::Float, Value::Float32(f)) => out.extend_from_slice(&f.to_le_bytes()),
        (FieldKind::Double, Value::Float64(f)) => out.extend_from_slice(&f.to_le_bytes()),
        (FieldKind::Bit, Value::Bit(b)) => {
            let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            let minimal = if first == b.len() {
                &[0u8][..]
            } else {
                &b[first..]
            };
            len_prefixed(out, minimal);
        }
        (FieldKind::Decimal { scale }, Value::Decimal(_)) => {
            let mut text = Vec::new();
            write_value_string(&mut text, v);
            let bytes = decimal_bytes(&text, scale)?;
            len_prefixed(out, &bytes);
        }
        (FieldKind::Binary, Value::Bytes(b)) => len_prefixed(out, b),
        (FieldKind::Text, Value::Bytes(b)) => len_prefixed(out, b),
        (FieldKind::Text, Value::Enum { name, .. }) => len_prefixed(out, name.as_bytes()),
        (FieldKind::Text, Value::Set { names, .. }) => len_prefixed(out, names.as_bytes()),
        (
            FieldKind::Text,
            Value::Json(_)
            | Value::Time(_)
            | Value::Duration(_)
            | Value::Decimal(_)
            | Value::Vector(_),
        ) => {
            let mut text = Vec::new();
            write_value_string(&mut text, v);
            len_prefixed(out, &text);
        }
        (kind, v) => return Err(mismatch(kind, v)),
    }
    Ok(())
}

/// The unscaled value of decimal `text` at `scale`, as minimal big-endian two's-complement
/// bytes.
pub fn decimal_bytes(text: &[u8], scale: u32) -> Result<Vec<u8>, WriteError> {
    let bad = || format!("{:?} is not a decimal", String::from_utf8_lossy(text));
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = match digits.iter().position(|&c| c == b'.') {
        Some(p) => (&digits[..p], &digits[p + 1..]),
        None => (digits, &digits[digits.len()..]),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    // Big-endian magnitude, built digit by digit: m = m * 10 + d.
    let mut mag: Vec<u8> = vec![0];
    let mut push = |d: u8| {
        let mut carry = u32::from(d);
        for b in mag.iter_mut().rev() {
            let x = u32::from(*b) * 10 + carry;
            *b = (x & 0xff) as u8;
            carry = x >> 8;
        }
        while carry > 0 {
            mag.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    };
    let scale = scale as usize;
    // Digits past the scale are dropped; a negative value then rounds down (goavro divides
    // with `big.Int.Div`, which floors), so its magnitude grows by one.
    let round_up = negative && frac.iter().skip(scale).any(|&c| c != b'0');
    for &c in int.iter().chain(frac.iter().take(scale)) {
        if !c.is_ascii_digit() {
            return Err(bad());
        }
        push(c - b'0');
    }
    if frac.iter().any(|c| !c.is_ascii_digit()) {
        return Err(bad());
    }
    for _ in frac.len()..scale {
        push(0);
    }
    if round_up {
        let mut carry = true;
        for b in mag.iter_mut().rev() {
            let (x, overflow) = b.overflowing_add(1);
            *b = x;
            if !overflow {
                carry = false;
                break;
            }
        }
        if carry {
            mag.insert(0, 1);
        }
    }
    let start = mag.iter().position(|&b| b != 0).unwrap_or(mag.len());
    let mag = &mag[start..];
    if mag.is_empty() {
        return Ok(vec![0]);
    }
    if !negative {
        let mut out = Vec::with_capacity(mag.len() + 1);
        if mag[0] & 0x80 != 0 {
            out.push(0);
        }
        out.extend_from_slice(mag);
        return Ok(out);
    }
    // Two's complement of -mag in the fewest bytes whose sign bit is set.
    let mut neg: Vec<u8> = mag.iter().map(|b| !b).collect();
    for b in neg.iter_mut().rev() {
        let (x, overflow) = b.overflowing_add(1);
        *b = x;
        if !overflow {
            break;
        }
    }
    if neg[0] & 0x80 == 0 {
        neg.insert(0, 0xff);
    }
    while neg.len() > 1 && neg[0] == 0xff && neg[1] & 0x80 != 0 {
        neg.remove(0);
    }
    Ok(neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str, scale: u32) -> Vec<u8> {
        decimal_bytes(s.as_bytes(), scale).expect("decimal")
    }

    #[test]
    fn decimals_are_minimal_twos_complement() {
        assert_eq!(d("0", 0), [0x00]);
        assert_eq!(d("128", 0), [0x00, 0x80]);
        assert_eq!(d("127", 0), [0x7f]);
        assert_eq!(d("-1", 0), [0xff]);
        assert_eq!(d("-128", 0), [0x80]);
        assert_eq!(d("-129", 0), [0xff, 0x7f]);
        assert_eq!(d("1.5", 2), [0x00, 0x96]);
        assert_eq!(d("-0.00", 2), [0x00]);
        assert_eq!(d("12.345", 2), [0x04, 0xd2]);
        assert_eq!(d("-256", 0), [0xff, 0x00]);
        // goavro floors: 129012.123 at scale 0 is 129012 (TiCDC v8.1.2 avro_test.go).
        assert_eq!(d("129012.123", 0), [0x01, 0xf7, 0xf4]);
        assert_eq!(d("-1.5", 0), [0xfe]);
    }

    #[test]
    fn zigzag_matches_the_spec() {
        let z = |v: i64| {
            let mut o = Vec::new();
            zigzag(&mut o, v);
            o
        };
        assert_eq!(z(0), [0]);
        assert_eq!(z(-1), [1]);
        assert_eq!(z(1), [2]);
        assert_eq!(z(-64), [0x7f]);
        assert_eq!(z(64), [0x80, 0x01]);
    }
}
