//! Typed values → the bytes TiDB stores for them, by column type: row format v2 values
//! (`rowcodec` `encodeValueDatum`) and the datums of row format v1 (`tablecodec` `flatten`).
//!
//! Owns the inverse of mount's per-type column decoding. Guarantees: TIMESTAMP values are
//! taken to be in the given zone and stored in UTC; JSON text is stored as TiDB's binary
//! JSON; mount's `RowDecoder` decodes what these write to the same values.

use tidb_changefeed::mount::datum::Datum;
use tidb_changefeed::mount::error::EncodeError;
use tidb_changefeed::mount::json::BinaryJson;
use tidb_changefeed::mount::number::encode_float;
use tidb_changefeed::mount::time::TimeZone;
use tidb_changefeed::mount::value::Value;

use super::number::{encode_int_compact_le, encode_uint_compact_le};
use super::time::packed_utc;

/// Encodes a non-NULL value as row format v2 stores it (TiDB `encodeValueDatum`);
/// TIMESTAMP values are taken to be in `tz` and stored in UTC.
pub fn encode_v2_value(v: &Value, tz: &TimeZone) -> Result<Vec<u8>, EncodeError> {
    let mut b = Vec::new();
    match v {
        Value::Null => {
            return Err(EncodeError::Invalid {
                what: "row v2 value",
                reason: "NULL is not a stored value".into(),
            });
        }
        Value::Int(i) => encode_int_compact_le(&mut b, *i),
        Value::Uint(u) => encode_uint_compact_le(&mut b, *u),
        Value::Float32(f) => encode_float(&mut b, f64::from(*f)),
        Value::Float64(f) => encode_float(&mut b, *f),
        Value::Decimal(d) => d.encode_datum(&mut b)?,
        Value::Bytes(x) => b.extend_from_slice(x),
        Value::Time(t) => encode_uint_compact_le(&mut b, packed_utc(t, tz)?),
        Value::Duration(d) => encode_int_compact_le(&mut b, d.nanos),
        Value::Enum { index, .. } => encode_uint_compact_le(&mut b, *index),
        Value::Set { bits, .. } => encode_uint_compact_le(&mut b, *bits),
        Value::Bit(_) => encode_uint_compact_le(&mut b, v.bit_as_u64().unwrap_or(0)),
        Value::Json(text) => {
            let j = BinaryJson::parse(text)?;
            b.push(j.type_code);
            b.extend_from_slice(&j.body);
        }
        Value::Vector(x) => x.encode(&mut b),
    }
    Ok(b)
}

/// Flattens a value into the datum row format v1 stores (TiDB `flatten`).
pub fn value_to_datum(v: &Value, tz: &TimeZone) -> Result<Datum, EncodeError> {
    Ok(match v {
        Value::Null => Datum::Null,
        Value::Int(i) => Datum::Int(*i),
        Value::Uint(u) => Datum::Uint(*u),
        Value::Float32(f) => Datum::Float(f64::from(*f)),
        Value::Float64(f) => Datum::Float(*f),
        Value::Decimal(d) => Datum::Decimal(d.clone()),
        Value::Bytes(b) => Datum::Bytes(b.clone()),
        Value::Time(t) => Datum::Uint(packed_utc(t, tz)?),
        Value::Duration(d) => Datum::Int(d.nanos),
        Value::Enum { index, .. } => Datum::Uint(*index),
        Value::Set { bits, .. } => Datum::Uint(*bits),
        Value::Bit(_) => Datum::Uint(v.bit_as_u64().unwrap_or(0)),
        Value::Json(text) => Datum::Json(BinaryJson::parse(text)?),
        Value::Vector(x) => Datum::VectorFloat32(x.clone()),
    })
}
