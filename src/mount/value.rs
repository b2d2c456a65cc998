//! Typed column values handed to the rest of the pipeline.
//!
//! Owns [`Value`]: one variant per kind of TiDB value after the column type has been applied
//! (what TiDB's `Datum` holds after `decodeColDatum` / `Unflatten`). Strings and binary
//! strings are raw bytes: their charset and collation are on the column
//! ([`crate::model::FieldType`]). Guarantees: `Display` renders each value as TiDB's
//! `Datum` string form (what TiCDC puts in its text-based protocols).

use std::fmt;

use super::decimal::Decimal;
use super::time::{Duration, Time};
use super::vector::VectorFloat32;

/// A decoded column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// Signed integer types and YEAR.
    Int(i64),
    /// Unsigned integer types.
    Uint(u64),
    /// FLOAT (TiDB stores it as f64 and narrows on decode).
    Float32(f32),
    /// DOUBLE.
    Float64(f64),
    /// DECIMAL with the precision and frac it was stored with.
    Decimal(Decimal),
    /// CHAR/VARCHAR/TEXT/BLOB/BINARY: raw bytes in the column's charset.
    Bytes(Vec<u8>),
    /// DATE/DATETIME/TIMESTAMP (TIMESTAMP already in the decoder's time zone).
    Time(Time),
    /// TIME.
    Duration(Duration),
    /// ENUM: 1-based index and element name; index 0 (name "") for the empty / invalid value.
    Enum {
        index: u64,
        name: String,
    },
    /// SET: bitmask and the selected element names joined by ','.
    Set {
        bits: u64,
        names: String,
    },
    /// BIT(n): big-endian bytes, `(n + 7) / 8` of them.
    Bit(Vec<u8>),
    /// JSON rendered as TiDB renders it.
    Json(String),
    /// VECTOR(FLOAT32).
    Vector(VectorFloat32),
}

impl Value {
    /// Whether this is SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// BIT value as an unsigned integer (TiCDC emits BIT this way), else `None`.
    pub fn bit_as_u64(&self) -> Option<u64> {
        match self {
            Value::Bit(b) => Some(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x))),
            _ => None,
        }
    }
}

/// BIT bytes for `value` with `(flen + 7) / 8` bytes (TiDB `NewBinaryLiteralFromUint`,
/// width clamped to 1..=8).
pub fn bit_bytes(value: u64, flen: i64) -> Vec<u8> {
    let width = usize::try_from((flen + 7) >> 3).unwrap_or(1).clamp(1, 8);
    value.to_be_bytes()[8 - width..].to_vec()
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Uint(v) => write!(f, "{v}"),
            Value::Float32(v) => write!(f, "{v}"),
            Value::Float64(v) => write!(f, "{v}"),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::Bytes(b) => f.write_str(&String::from_utf8_lossy(b)),
            Value::Time(t) => write!(f, "{t}"),
            Value::Duration(d) => write!(f, "{d}"),
            Value::Enum { name, .. } => f.write_str(name),
            Value::Set { names, .. } => f.write_str(names),
            Value::Bit(_) => write!(f, "{}", self.bit_as_u64().unwrap_or(0)),
            Value::Json(j) => f.write_str(j),
            Value::Vector(v) => write!(f, "{v}"),
        }
    }
}
