//! Column values: stored bytes or datums ↔ [`Value`], by column type.
//!
//! Owns the per-type rules of TiDB's `rowcodec` decoder (`decodeColDatum`) for row format v2,
//! and of `tablecodec.Unflatten` for row format v1 and key datums (the encoders, TiDB's
//! `encodeValueDatum` and `flatten`, are the emulator's: `tests/emulator/src/encode/value.rs`).
//! Guarantees: TIMESTAMP is converted from UTC to the decoder's zone (zero stays zero); ENUM
//! indexes outside the elements decode to the empty enum (index 0), as TiDB does; SET bits
//! outside the elements are an error, as in TiDB.

use super::datum::Datum;
use super::decimal::Decimal;
use super::error::DecodeError;
use super::json::BinaryJson;
use super::number::{decode_float, decode_int_compact_le, decode_uint_compact_le};
use super::reader::Reader;
use super::time::{Duration, Time, TimeType, TimeZone};
use super::value::{Value, bit_bytes};
use super::vector::VectorFloat32;
use crate::model::{FieldType, tp};

/// How a column type is decoded; computed once per column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Uint,
    Year,
    Float32,
    Float64,
    Bytes,
    Decimal,
    Time(TimeType),
    Duration,
    Enum,
    Set,
    Bit,
    Json,
    Vector,
    Unsupported,
}

pub(crate) fn kind_of(ft: &FieldType) -> Kind {
    match ft.tp {
        tp::TINY | tp::SHORT | tp::INT24 | tp::LONG | tp::LONGLONG => {
            if ft.is_unsigned() {
                Kind::Uint
            } else {
                Kind::Int
            }
        }
        tp::YEAR => Kind::Year,
        tp::FLOAT => Kind::Float32,
        tp::DOUBLE => Kind::Float64,
        tp::VARCHAR
        | tp::VAR_STRING
        | tp::STRING
        | tp::BLOB
        | tp::TINY_BLOB
        | tp::MEDIUM_BLOB
        | tp::LONG_BLOB => Kind::Bytes,
        tp::NEWDECIMAL => Kind::Decimal,
        tp::DATE | tp::NEWDATE => Kind::Time(TimeType::Date),
        tp::DATETIME => Kind::Time(TimeType::Datetime),
        tp::TIMESTAMP => Kind::Time(TimeType::Timestamp),
        tp::DURATION => Kind::Duration,
        tp::ENUM => Kind::Enum,
        tp::SET => Kind::Set,
        tp::BIT => Kind::Bit,
        tp::JSON => Kind::Json,
        tp::TIDB_VECTOR_FLOAT32 => Kind::Vector,
        _ => Kind::Unsupported,
    }
}

/// Fractional-second precision of a column (`Decimal`; unspecified → 0, capped at 6).
pub(crate) fn fsp_of(ft: &FieldType) -> u8 {
    u8::try_from(ft.decimal.clamp(0, 6)).unwrap_or(0)
}

pub(crate) fn enum_value(ft: &FieldType, index: u64) -> Value {
    match usize::try_from(index)
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| ft.elems.get(i))
    {
        Some(name) => Value::Enum {
            index,
            name: name.clone(),
        },
        None => Value::Enum {
            index: 0,
            name: String::new(),
        },
    }
}

pub(crate) fn set_value(ft: &FieldType, bits: u64) -> Result<Value, String> {
    let mut names: Vec<&str> = Vec::new();
    let mut rest = bits;
    for (i, e) in ft.elems.iter().enumerate().take(64) {
        if bits & (1 << i) != 0 {
            names.push(e);
            rest &= !(1 << i);
        }
    }
    if rest != 0 {
        return Err(format!(
            "bits {rest:#x} are outside the {} set elements",
            ft.elems.len()
        ));
    }
    Ok(Value::Set {
        bits,
        names: names.join(","),
    })
}

fn time_value(packed: u64, tt: TimeType, fsp: u8, tz: &TimeZone) -> Result<Value, String> {
    let t = Time::from_packed(packed, tt, fsp);
    Ok(Value::Time(if tt == TimeType::Timestamp {
        t.utc_to_zone(tz)?
    } else {
        t
    }))
}

fn inv(what: &'static str, reason: impl Into<String>) -> DecodeError {
    DecodeError::invalid(what, 0, reason)
}

/// Decodes a row-v2 column value.
pub(crate) fn decode_v2(
    kind: Kind,
    ft: &FieldType,
    data: &[u8],
    tz: &TimeZone,
) -> Result<Value, DecodeError> {
    Ok(match kind {
        Kind::Int | Kind::Year => Value::Int(decode_int_compact_le(data)?),
        Kind::Uint => Value::Uint(decode_uint_compact_le(data)?),
        Kind::Float32 => Value::Float32(decode_float(&mut Reader::new(data))? as f32),
        Kind::Float64 => Value::Float64(decode_float(&mut Reader::new(data))?),
        Kind::Bytes => Value::Bytes(data.to_vec()),
        Kind::Decimal => Value::Decimal(Decimal::decode_datum(&mut Reader::new(data))?),
        Kind::Time(tt) => time_value(decode_uint_compact_le(data)?, tt, fsp_of(ft), tz)
            .map_err(|e| inv("time", e))?,
        Kind::Duration => Value::Duration(Duration {
            nanos: decode_int_compact_le(data)?,
            fsp: fsp_of(ft),
        }),
        Kind::Enum => enum_value(ft, decode_uint_compact_le(data)?),
        Kind::Set => set_value(ft, decode_uint_compact_le(data)?).map_err(|e| inv("set", e))?,
        Kind::Bit => Value::Bit(bit_bytes(decode_uint_compact_le(data)?, ft.flen)),
        Kind::Json => Value::Json(BinaryJson::from_row_bytes(data)?.to_text()?),
        Kind::Vector => Value::Vector(VectorFloat32::decode(&mut Reader::new(data))?),
        Kind::Unsupported => {
            return Err(inv(
                "column type",
                format!("type code {} not supported", ft.tp),
            ));
        }
    })
}

/// Gives a datum (row v1 value or key datum) the column's type (TiDB `Unflatten`).
pub(crate) fn from_datum(
    kind: Kind,
    ft: &FieldType,
    d: Datum,
    tz: &TimeZone,
) -> Result<Value, DecodeError> {
    let mismatch = |d: &Datum| inv("datum", format!("{d:?} does not fit column type {}", ft.tp));
    Ok(match (kind, d) {
        (_, Datum::Null) => Value::Null,
        (Kind::Int | Kind::Year, Datum::Int(v)) => Value::Int(v),
        (Kind::Int | Kind::Year, Datum::Uint(v)) => Value::Int(v as i64),
        (Kind::Uint, Datum::Uint(v)) => Value::Uint(v),
        (Kind::Uint, Datum::Int(v)) => Value::Uint(v as u64),
        (Kind::Float32, Datum::Float(v)) => Value::Float32(v as f32),
        (Kind::Float64, Datum::Float(v)) => Value::Float64(v),
        (Kind::Bytes, Datum::Bytes(b)) => Value::Bytes(b),
        (Kind::Decimal, Datum::Decimal(v)) => Value::Decimal(v),
        (Kind::Time(tt), Datum::Uint(v)) => {
            time_value(v, tt, fsp_of(ft), tz).map_err(|e| inv("time", e))?
        }
        (Kind::Time(tt), Datum::Int(v)) => {
            time_value(v as u64, tt, fsp_of(ft), tz).map_err(|e| inv("time", e))?
        }
        (Kind::Duration, Datum::Int(n) | Datum::Duration(n)) => Value::Duration(Duration {
            nanos: n,
            fsp: fsp_of(ft),
        }),
        (Kind::Enum, Datum::Uint(v)) => enum_value(ft, v),
        (Kind::Enum, Datum::Int(v)) => enum_value(ft, v as u64),
        (Kind::Set, Datum::Uint(v)) => set_value(ft, v).map_err(|e| inv("set", e))?,
        (Kind::Set, Datum::Int(v)) => set_value(ft, v as u64).map_err(|e| inv("set", e))?,
        (Kind::Bit, Datum::Uint(v)) => Value::Bit(bit_bytes(v, ft.flen)),
        (Kind::Bit, Datum::Int(v)) => Value::Bit(bit_bytes(v as u64, ft.flen)),
        (Kind::Json, Datum::Json(j)) => Value::Json(j.to_text()?),
        (Kind::Vector, Datum::VectorFloat32(v)) => Value::Vector(v),
        (_, other) => return Err(mismatch(&other)),
    })
}
