//! TiCDC's text forms of column values, shared by encoders, update splitting and dispatch.
//!
//! Owns [`write_value_string`] (TiCDC classic `model.ColumnValueString` applied to what its
//! mounter produces, `cdc/model/sink.go`, `cdc/entry/mounter.go` `formatColVal`) and
//! [`values_equal`] (`codec.IsColumnValueEqual`). Guarantees: floats print as Go's
//! `strconv.FormatFloat(v, 'f', -1, bits)` (shortest round-trip digits, never an exponent);
//! NaN and ±Inf print as `0` because TiCDC's mounter replaces them by 0; strings and binary
//! strings are their raw bytes (no charset conversion); NULL is `null`.

use std::io::Write as _;

use crate::mount::Value;

/// Appends Go `FormatFloat(float64(v), 'f', -1, 32)` of `v` (NaN/Inf → `0`).
pub fn write_f32(out: &mut Vec<u8>, v: f32) {
    // Rust's `Display` for f32 is the shortest representation that round-trips through f32,
    // in positional notation: the same digits Go prints with precision -1 and bitSize 32.
    let v = if v.is_finite() { v } else { 0.0 };
    let _ = write!(out, "{v}");
}

/// Appends Go `FormatFloat(v, 'f', -1, 64)` of `v` (NaN/Inf → `0`).
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    let v = if v.is_finite() { v } else { 0.0 };
    let _ = write!(out, "{v}");
}

/// Appends TiCDC's `ColumnValueString` of a mounted value (`Value::Null` → `null`).
pub fn write_value_string(out: &mut Vec<u8>, v: &Value) {
    // Writes into a Vec cannot fail.
    let _ = match v {
        Value::Null => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        Value::Int(i) => write!(out, "{i}"),
        Value::Uint(u) => write!(out, "{u}"),
        Value::Float32(f) => {
            write_f32(out, *f);
            Ok(())
        }
        Value::Float64(f) => {
            write_f64(out, *f);
            Ok(())
        }
        Value::Decimal(d) => write!(out, "{d}"),
        Value::Bytes(b) => {
            out.extend_from_slice(b);
            Ok(())
        }
        Value::Time(t) => write!(out, "{t}"),
        Value::Duration(d) => write!(out, "{d}"),
        Value::Enum { index, .. } => write!(out, "{index}"),
        Value::Set { bits, .. } => write!(out, "{bits}"),
        Value::Bit(_) => write!(out, "{}", v.bit_as_u64().unwrap_or(0)),
        Value::Json(j) => {
            out.extend_from_slice(j.as_bytes());
            Ok(())
        }
        Value::Vector(vec) => write!(out, "{vec}"),
    };
}

/// The value string as owned bytes.
pub fn value_string(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value_string(&mut out, v);
    out
}

/// TiCDC `IsColumnValueEqual` on mounted values: NULL equals only NULL; other values are equal
/// when their mounted forms are (decimals, times and JSON compare as their text, enums/sets/bits
/// as their integers, floats numerically so `-0` equals `0`).
///
/// TiCDC compares VECTOR values with Go `==` on an interface holding an uncomparable type,
/// which panics; we compare them element-wise instead.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Float32(x), Value::Float32(y)) => norm32(*x) == norm32(*y),
        (Value::Float64(x), Value::Float64(y)) => norm64(*x) == norm64(*y),
        (Value::Decimal(_), Value::Decimal(_))
        | (Value::Time(_), Value::Time(_))
        | (Value::Duration(_), Value::Duration(_)) => value_string(a) == value_string(b),
        (Value::Enum { index: x, .. }, Value::Enum { index: y, .. }) => x == y,
        (Value::Set { bits: x, .. }, Value::Set { bits: y, .. }) => x == y,
        (Value::Bit(_), Value::Bit(_)) => a.bit_as_u64() == b.bit_as_u64(),
        _ => a == b,
    }
}

fn norm32(v: f32) -> f32 {
    if v.is_finite() { v } else { 0.0 }
}

fn norm64(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::mount::{Decimal, VectorFloat32};

    fn s(v: &Value) -> String {
        String::from_utf8(value_string(v)).unwrap()
    }

    /// Expected strings are Go `strconv.FormatFloat(x, 'f', -1, bits)` results (Go's
    /// `strconv/ftoa_test.go` documents the shortest-digit rule; values derived by hand).
    #[test]
    fn floats_like_go_format_float_f_minus_one() {
        assert_eq!(s(&Value::Float32(3.15)), "3.15");
        assert_eq!(s(&Value::Float32(0.1)), "0.1");
        assert_eq!(s(&Value::Float32(1e-7)), "0.0000001");
        assert_eq!(s(&Value::Float32(16777216.0)), "16777216");
        assert_eq!(
            s(&Value::Float32(3.4028235e38)),
            "340282350000000000000000000000000000000"
        );
        assert_eq!(s(&Value::Float64(1e20)), "100000000000000000000");
        assert_eq!(s(&Value::Float64(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(s(&Value::Float64(-0.0)), "-0");
        assert_eq!(s(&Value::Float64(f64::NAN)), "0");
        assert_eq!(s(&Value::Float32(f32::INFINITY)), "0");
        assert_eq!(
            s(&Value::Float64(5e-324)),
            format!("0.{}5", "0".repeat(323))
        );
    }

    #[test]
    fn other_kinds() {
        assert_eq!(s(&Value::Null), "null");
        assert_eq!(s(&Value::Int(-5)), "-5");
        assert_eq!(s(&Value::Uint(u64::MAX)), "18446744073709551615");
        assert_eq!(
            s(&Value::Decimal(Decimal::parse("12.5", 10, 2).unwrap())),
            "12.50"
        );
        assert_eq!(
            s(&Value::Enum {
                index: 2,
                name: "b".into()
            }),
            "2"
        );
        assert_eq!(
            s(&Value::Set {
                bits: 3,
                names: "a,b".into()
            }),
            "3"
        );
        assert_eq!(s(&Value::Bit(vec![0x01, 0x02])), "258");
        assert_eq!(s(&Value::Vector(VectorFloat32(vec![1.0, 2.5]))), "[1,2.5]");
        assert_eq!(
            value_string(&Value::Bytes(vec![0xff, 0x00])),
            vec![0xff, 0x00]
        );
    }

    #[test]
    fn equality_follows_mounted_forms() {
        assert!(values_equal(&Value::Null, &Value::Null));
        assert!(!values_equal(&Value::Null, &Value::Int(0)));
        assert!(values_equal(&Value::Float64(-0.0), &Value::Float64(0.0)));
        assert!(values_equal(
            &Value::Bytes(b"x".to_vec()),
            &Value::Bytes(b"x".to_vec())
        ));
        assert!(!values_equal(&Value::Int(1), &Value::Int(2)));
    }
}
