//! Flag-prefixed datums (`util/codec/codec.go` `EncodeKey` / `EncodeValue` / `DecodeOne`).
//!
//! Owns [`Datum`], its decoding in either of its two encodings — the comparable (key) form
//! used by index keys and common handles (`Int`, `Uint`, memcomparable `Bytes`, `Float`,
//! `Decimal`, `Duration`) and the value form used by row format v1 (`Varint`, `Uvarint`,
//! `CompactBytes`, ...) — and the key form's encoder, which record keys need (the value form
//! is written only by the emulator). Decoding accepts every flag in either position, as
//! TiDB's `DecodeOne` does. Guarantees: exact round trip for every variant; bad bytes are
//! errors naming the flag and offset.

use super::bytes::{decode_bytes, decode_compact_bytes, encode_bytes};
use super::decimal::Decimal;
use super::error::{DecodeError, EncodeError};
use super::json::BinaryJson;
use super::number::{
    decode_float, decode_int, decode_uint, decode_uvarint, decode_varint, encode_float, encode_int,
    encode_uint,
};
use super::reader::Reader;
use super::vector::VectorFloat32;

/// Datum flags (first byte of an encoded datum).
pub mod flag {
    pub const NIL: u8 = 0;
    pub const BYTES: u8 = 1;
    pub const COMPACT_BYTES: u8 = 2;
    pub const INT: u8 = 3;
    pub const UINT: u8 = 4;
    pub const FLOAT: u8 = 5;
    pub const DECIMAL: u8 = 6;
    pub const DURATION: u8 = 7;
    pub const VARINT: u8 = 8;
    pub const UVARINT: u8 = 9;
    pub const JSON: u8 = 10;
    pub const VECTOR_FLOAT32: u8 = 20;
    pub const MAX: u8 = 250;
}

/// A raw datum: what the flag says, before the column type gives it meaning.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    Null,
    Int(i64),
    Uint(u64),
    Float(f64),
    Bytes(Vec<u8>),
    Decimal(Decimal),
    /// TIME as nanoseconds.
    Duration(i64),
    Json(BinaryJson),
    VectorFloat32(VectorFloat32),
    /// The `MaxValue` sentinel of key ranges.
    Max,
}

/// Reads one datum.
pub fn decode_datum(r: &mut Reader<'_>) -> Result<Datum, DecodeError> {
    let at = r.pos();
    let f = r.read_u8("datum flag")?;
    Ok(match f {
        flag::NIL => Datum::Null,
        flag::INT => Datum::Int(decode_int(r)?),
        flag::UINT => Datum::Uint(decode_uint(r)?),
        flag::VARINT => Datum::Int(decode_varint(r)?),
        flag::UVARINT => Datum::Uint(decode_uvarint(r)?),
        flag::FLOAT => Datum::Float(decode_float(r)?),
        flag::BYTES => Datum::Bytes(decode_bytes(r)?),
        flag::COMPACT_BYTES => Datum::Bytes(decode_compact_bytes(r)?.to_vec()),
        flag::DECIMAL => Datum::Decimal(Decimal::decode_datum(r)?),
        flag::DURATION => Datum::Duration(decode_int(r)?),
        flag::JSON => Datum::Json(BinaryJson::decode_datum(r)?),
        flag::VECTOR_FLOAT32 => Datum::VectorFloat32(VectorFloat32::decode(r)?),
        flag::MAX => Datum::Max,
        other => {
            return Err(DecodeError::invalid(
                "datum flag",
                at,
                format!("unknown flag {other}"),
            ));
        }
    })
}

/// Reads datums until the input ends.
pub fn decode_datums(data: &[u8]) -> Result<Vec<Datum>, DecodeError> {
    let mut r = Reader::new(data);
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(decode_datum(&mut r)?);
    }
    Ok(out)
}

/// Appends the comparable (key) encoding of a datum.
pub fn encode_key_datum(buf: &mut Vec<u8>, d: &Datum) -> Result<(), EncodeError> {
    match d {
        Datum::Null => buf.push(flag::NIL),
        Datum::Int(v) => {
            buf.push(flag::INT);
            encode_int(buf, *v);
        }
        Datum::Uint(v) => {
            buf.push(flag::UINT);
            encode_uint(buf, *v);
        }
        Datum::Float(v) => {
            buf.push(flag::FLOAT);
            encode_float(buf, *v);
        }
        Datum::Bytes(b) => {
            buf.push(flag::BYTES);
            encode_bytes(buf, b);
        }
        Datum::Decimal(v) => {
            buf.push(flag::DECIMAL);
            v.encode_datum(buf)?;
        }
        Datum::Duration(n) => {
            buf.push(flag::DURATION);
            encode_int(buf, *n);
        }
        Datum::Json(j) => {
            buf.push(flag::JSON);
            buf.push(j.type_code);
            buf.extend_from_slice(&j.body);
        }
        Datum::VectorFloat32(v) => {
            buf.push(flag::VECTOR_FLOAT32);
            v.encode(buf);
        }
        Datum::Max => buf.push(flag::MAX),
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::mount::unhex;

    /// V3: TIDB docs/tidb_http_api.md short_value `CAICAkE=` = 08 02 | 02 02 41
    /// (column id 1 as Varint, "A" as CompactBytes).
    #[test]
    fn v3_datums() {
        assert_eq!(
            decode_datums(&unhex("0802020241")).unwrap(),
            vec![Datum::Int(1), Datum::Bytes(b"A".to_vec())]
        );
    }

    #[test]
    fn key_datums() {
        // derived common handle (int 7, varchar "x") of upstream.md §3.9
        let mut b = Vec::new();
        encode_key_datum(&mut b, &Datum::Int(7)).unwrap();
        encode_key_datum(&mut b, &Datum::Bytes(b"x".to_vec())).unwrap();
        assert_eq!(b, unhex("038000000000000007017800000000000000f8"));
        assert_eq!(
            decode_datums(&b).unwrap(),
            vec![Datum::Int(7), Datum::Bytes(b"x".to_vec())]
        );
    }

    #[test]
    fn bad_flags_and_truncation() {
        assert!(decode_datums(&[0x0b]).is_err());
        assert!(decode_datums(&[flag::INT, 1, 2]).is_err());
        assert!(decode_datums(&[flag::JSON]).is_err());
        assert!(decode_datums(&[flag::DECIMAL, 5]).is_err());
    }

    // Round trips of both forms: tests/emulator/src/encode/datum.rs.
    proptest! {
        #[test]
        fn garbage_never_panics(data: Vec<u8>) {
            let _ = decode_datums(&data);
        }
    }
}
