//! Number codecs of TiDB's `util/codec` (and TiKV's `components/codec/src/number.rs`).
//!
//! Owns: comparable int (8-byte big-endian with the sign bit flipped), comparable uint, their
//! descending forms, varint (zig-zag LEB128, Go `binary.PutVarint`), uvarint (LEB128), the
//! comparable float and the little-endian ints of row format v2. Encoders exist for the forms
//! the daemon writes (keys, key datums, binary JSON); the others are written only by the
//! emulator (`tests/emulator/src/encode/number.rs`). Guarantees: encode/decode are exact
//! inverses (except that the comparable float maps -0.0 to +0.0, as TiDB's does), and
//! comparable encodings sort like the values.

use super::error::DecodeError;
use super::reader::Reader;

const SIGN_MASK: u64 = 0x8000_0000_0000_0000;

/// Appends the comparable encoding of a signed integer.
pub fn encode_int(buf: &mut Vec<u8>, v: i64) {
    buf.extend_from_slice(&((v as u64) ^ SIGN_MASK).to_be_bytes());
}

/// Reads a comparable signed integer.
pub fn decode_int(r: &mut Reader<'_>) -> Result<i64, DecodeError> {
    Ok((u64::from_be_bytes(r.read_array("comparable int")?) ^ SIGN_MASK) as i64)
}

/// Reads a descending comparable signed integer.
pub fn decode_int_desc(r: &mut Reader<'_>) -> Result<i64, DecodeError> {
    Ok((!u64::from_be_bytes(r.read_array("comparable int desc")?) ^ SIGN_MASK) as i64)
}

/// Appends an unsigned integer as 8 bytes big-endian.
pub fn encode_uint(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_be_bytes());
}

/// Reads an 8-byte big-endian unsigned integer.
pub fn decode_uint(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    Ok(u64::from_be_bytes(r.read_array("comparable uint")?))
}

/// Reads the descending form of an unsigned integer.
pub fn decode_uint_desc(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    Ok(!u64::from_be_bytes(r.read_array("comparable uint desc")?))
}

/// Appends LEB128 (Go `binary.PutUvarint`).
pub fn encode_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads LEB128; rejects more than 10 bytes or a value above `u64::MAX` (as Go does).
pub fn decode_uvarint(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    let start = r.pos();
    let mut v: u64 = 0;
    for i in 0..10u32 {
        let b = r.read_u8("uvarint")?;
        if b < 0x80 {
            if i == 9 && b > 1 {
                return Err(DecodeError::invalid("uvarint", start, "overflows 64 bits"));
            }
            return Ok(v | (u64::from(b) << (7 * i)));
        }
        v |= u64::from(b & 0x7f) << (7 * i);
    }
    Err(DecodeError::invalid(
        "uvarint",
        start,
        "longer than 10 bytes",
    ))
}

/// Reads zig-zag LEB128.
pub fn decode_varint(r: &mut Reader<'_>) -> Result<i64, DecodeError> {
    let u = decode_uvarint(r)?;
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

/// Appends the comparable encoding of a float: IEEE-754 bits, sign bit set for `f >= 0`,
/// all bits inverted otherwise; big-endian.
pub fn encode_float(buf: &mut Vec<u8>, f: f64) {
    let bits = f.to_bits();
    let u = if f >= 0.0 { bits | SIGN_MASK } else { !bits };
    buf.extend_from_slice(&u.to_be_bytes());
}

/// Reads a comparable float.
pub fn decode_float(r: &mut Reader<'_>) -> Result<f64, DecodeError> {
    let u = u64::from_be_bytes(r.read_array("comparable float")?);
    let bits = if u & SIGN_MASK != 0 {
        u & !SIGN_MASK
    } else {
        !u
    };
    Ok(f64::from_bits(bits))
}

/// Decodes a row-v2 signed integer by its length (1, 2, 4 or 8 bytes); other lengths are
/// errors (TiDB would read past the value).
pub fn decode_int_compact_le(b: &[u8]) -> Result<i64, DecodeError> {
    Ok(match *b {
        [a] => i64::from(a as i8),
        [a, b] => i64::from(i16::from_le_bytes([a, b])),
        [a, b, c, d] => i64::from(i32::from_le_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => i64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => {
            return Err(DecodeError::invalid(
                "row v2 int",
                0,
                format!("length {} is not 1, 2, 4 or 8", b.len()),
            ));
        }
    })
}

/// Decodes a row-v2 unsigned integer by its length (1, 2, 4 or 8 bytes).
pub fn decode_uint_compact_le(b: &[u8]) -> Result<u64, DecodeError> {
    Ok(match *b {
        [a] => u64::from(a),
        [a, b] => u64::from(u16::from_le_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_le_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => u64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => {
            return Err(DecodeError::invalid(
                "row v2 uint",
                0,
                format!("length {} is not 1, 2, 4 or 8", b.len()),
            ));
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn comparable_int_vectors() {
        // upstream.md §3.2 examples (TIDB pkg/util/codec/number.go EncodeInt).
        for (v, h) in [
            (1i64, "8000000000000001"),
            (-1, "7fffffffffffffff"),
            (0, "8000000000000000"),
        ] {
            let mut b = Vec::new();
            encode_int(&mut b, v);
            assert_eq!(hex(&b), h);
            assert_eq!(decode_int(&mut Reader::new(&b)).unwrap(), v);
        }
    }

    /// Go binary.PutVarint vectors (the encoding side: tests/emulator/src/encode/number.rs).
    #[test]
    fn varint_matches_go() {
        for (v, b) in [
            (1i64, &[0x02][..]),
            (-1, &[0x01]),
            (300, &[0xd8, 0x04]),
            (5, &[0x0a]),
            (0, &[0x00]),
        ] {
            assert_eq!(decode_varint(&mut Reader::new(b)).unwrap(), v);
        }
    }

    #[test]
    fn uvarint_rejects_overflow_and_truncation() {
        assert!(decode_uvarint(&mut Reader::new(&[0x80, 0x80])).is_err());
        assert!(decode_uvarint(&mut Reader::new(&[0xff; 11])).is_err());
        let mut ten = vec![0xff; 9];
        ten.push(0x02);
        assert!(decode_uvarint(&mut Reader::new(&ten)).is_err());
        let mut max = vec![0xff; 9];
        max.push(0x01);
        assert_eq!(decode_uvarint(&mut Reader::new(&max)).unwrap(), u64::MAX);
    }

    #[test]
    fn float_vectors() {
        // V4 column 6/9: -1.8 -> 3ffccccccccccccd... TIKV row/v2/encoder_for_test.rs test_encode.
        let mut b = Vec::new();
        encode_float(&mut b, 1.8);
        assert_eq!(hex(&b), "bffccccccccccccd");
        b.clear();
        encode_float(&mut b, -1.8);
        assert_eq!(hex(&b), "4003333333333332");
        assert_eq!(decode_float(&mut Reader::new(&b)).unwrap(), -1.8);
    }

    #[test]
    fn truncated_is_error() {
        assert!(matches!(
            decode_int(&mut Reader::new(&[1, 2, 3])),
            Err(DecodeError::Truncated { needed: 8, .. })
        ));
        assert!(decode_int_compact_le(&[1, 2, 3]).is_err());
        assert!(decode_uint_compact_le(&[]).is_err());
    }

    proptest! {
        #[test]
        fn int_roundtrip_and_order(a: i64, b: i64) {
            let (mut ea, mut eb) = (Vec::new(), Vec::new());
            encode_int(&mut ea, a);
            encode_int(&mut eb, b);
            prop_assert_eq!(decode_int(&mut Reader::new(&ea)).unwrap(), a);
            prop_assert_eq!(a.cmp(&b), ea.cmp(&eb));
        }

        #[test]
        fn uint_roundtrip(a: u64) {
            let mut e = Vec::new();
            encode_uint(&mut e, a);
            prop_assert_eq!(decode_uint(&mut Reader::new(&e)).unwrap(), a);
            e.clear();
            encode_uvarint(&mut e, a);
            prop_assert_eq!(decode_uvarint(&mut Reader::new(&e)).unwrap(), a);
        }

        #[test]
        fn float_roundtrip_and_order(a in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
                                     b in proptest::num::f64::NORMAL) {
            let (mut ea, mut eb) = (Vec::new(), Vec::new());
            encode_float(&mut ea, a);
            encode_float(&mut eb, b);
            let back = decode_float(&mut Reader::new(&ea)).unwrap();
            prop_assert!(back == a);
            if a != b {
                prop_assert_eq!(a < b, ea < eb);
            }
        }

        #[test]
        fn garbage_never_panics(data: Vec<u8>) {
            let mut r = Reader::new(&data);
            let _ = decode_uvarint(&mut r);
            let _ = decode_varint(&mut Reader::new(&data));
            let _ = decode_float(&mut Reader::new(&data));
            let _ = decode_int_compact_le(&data);
        }
    }
}
