//! Number forms of TiDB's `util/codec` that only row values (and TiKV's descending keys) use:
//! varint (zig-zag LEB128, Go `binary.PutVarint`), the descending comparable int and uint,
//! and the smallest little-endian ints of row format v2.
//!
//! Guarantees: each is the exact inverse of its decoder in [`tidb_changefeed::mount::number`].

use tidb_changefeed::mount::number::encode_uvarint;

const SIGN_MASK: u64 = 0x8000_0000_0000_0000;

/// Appends the descending comparable encoding of a signed integer.
pub fn encode_int_desc(buf: &mut Vec<u8>, v: i64) {
    buf.extend_from_slice(&(!((v as u64) ^ SIGN_MASK)).to_be_bytes());
}

/// Appends the descending form (`!v`, big-endian), used for timestamps in TiKV keys.
pub fn encode_uint_desc(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&(!v).to_be_bytes());
}

/// Appends zig-zag LEB128 (Go `binary.PutVarint`).
pub fn encode_varint(buf: &mut Vec<u8>, v: i64) {
    encode_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Smallest little-endian two's-complement form of 1, 2, 4 or 8 bytes (row format v2 ints).
pub fn encode_int_compact_le(buf: &mut Vec<u8>, v: i64) {
    if let Ok(x) = i8::try_from(v) {
        buf.push(x as u8);
    } else if let Ok(x) = i16::try_from(v) {
        buf.extend_from_slice(&x.to_le_bytes());
    } else if let Ok(x) = i32::try_from(v) {
        buf.extend_from_slice(&x.to_le_bytes());
    } else {
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

/// Smallest little-endian unsigned form of 1, 2, 4 or 8 bytes (row format v2 uints).
pub fn encode_uint_compact_le(buf: &mut Vec<u8>, v: u64) {
    if let Ok(x) = u8::try_from(v) {
        buf.push(x);
    } else if let Ok(x) = u16::try_from(v) {
        buf.extend_from_slice(&x.to_le_bytes());
    } else if let Ok(x) = u32::try_from(v) {
        buf.extend_from_slice(&x.to_le_bytes());
    } else {
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tidb_changefeed::mount::number::{
        decode_int_compact_le, decode_int_desc, decode_uint_compact_le, decode_uint_desc,
        decode_varint,
    };
    use tidb_changefeed::mount::reader::Reader;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn varint_matches_go() {
        // Go binary.PutVarint: 1 -> 02, -1 -> 01, 300 -> d804, compact bytes length 5 -> 0a
        // (TIKV components/codec/src/byte.rs test_write_compact_bytes_for_file: "hello" -> 0a...).
        for (v, h) in [
            (1i64, "02"),
            (-1, "01"),
            (300, "d804"),
            (5, "0a"),
            (0, "00"),
        ] {
            let mut b = Vec::new();
            encode_varint(&mut b, v);
            assert_eq!(hex(&b), h);
            assert_eq!(decode_varint(&mut Reader::new(&b)).unwrap(), v);
        }
    }

    proptest! {
        #[test]
        fn int_desc_roundtrip(a: i64) {
            let mut d = Vec::new();
            encode_int_desc(&mut d, a);
            prop_assert_eq!(decode_int_desc(&mut Reader::new(&d)).unwrap(), a);
        }

        #[test]
        fn uint_roundtrip(a: u64) {
            let mut e = Vec::new();
            encode_uint_desc(&mut e, a);
            prop_assert_eq!(decode_uint_desc(&mut Reader::new(&e)).unwrap(), a);
            e.clear();
            encode_uint_compact_le(&mut e, a);
            prop_assert_eq!(decode_uint_compact_le(&e).unwrap(), a);
        }

        #[test]
        fn varint_roundtrip(a: i64) {
            let mut e = Vec::new();
            encode_varint(&mut e, a);
            prop_assert_eq!(decode_varint(&mut Reader::new(&e)).unwrap(), a);
            e.clear();
            encode_int_compact_le(&mut e, a);
            prop_assert_eq!(decode_int_compact_le(&e).unwrap(), a);
        }
    }
}
