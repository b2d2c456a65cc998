//! Byte-string codecs of TiDB's `util/codec/bytes.go` (TiKV `components/codec/src/byte.rs`).
//!
//! Owns the memcomparable form (groups of 8 bytes, zero padded, each followed by a marker
//! `0xFF - pad`; a final, possibly empty, group is always written) and the reading of the
//! compact form (varint length + bytes; only the emulator writes it). Guarantees: exact round
//! trip; memcomparable output sorts like the input; malformed markers or padding are errors,
//! never panics.

use super::error::DecodeError;
use super::number::decode_varint;
use super::reader::Reader;

const GROUP: usize = 8;
const MARKER: u8 = 0xff;

/// Appends the memcomparable encoding of `data`.
pub fn encode_bytes(buf: &mut Vec<u8>, data: &[u8]) {
    buf.reserve((data.len() / GROUP + 1) * (GROUP + 1));
    let mut chunks = data.chunks_exact(GROUP);
    for c in &mut chunks {
        buf.extend_from_slice(c);
        buf.push(MARKER);
    }
    let rem = chunks.remainder();
    let pad = GROUP - rem.len();
    buf.extend_from_slice(rem);
    buf.extend(std::iter::repeat_n(0u8, pad));
    buf.push(MARKER - pad as u8);
}

/// Reads a memcomparable byte string.
pub fn decode_bytes(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    loop {
        let at = r.pos();
        let g = r.read_bytes(GROUP + 1, "memcomparable bytes group")?;
        let marker = g[GROUP];
        let pad = usize::from(MARKER - marker);
        if pad > GROUP {
            return Err(DecodeError::invalid(
                "memcomparable bytes",
                at + GROUP,
                format!("marker {marker:#04x}"),
            ));
        }
        let real = GROUP - pad;
        out.extend_from_slice(&g[..real]);
        if pad != 0 {
            if g[real..GROUP].iter().any(|&b| b != 0) {
                return Err(DecodeError::invalid(
                    "memcomparable bytes",
                    at + real,
                    "non-zero padding",
                ));
            }
            return Ok(out);
        }
    }
}

/// Reads a compact byte string.
pub fn decode_compact_bytes<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    let at = r.pos();
    let n = decode_varint(r)?;
    let n = usize::try_from(n)
        .map_err(|_| DecodeError::invalid("compact bytes", at, format!("length {n}")))?;
    r.read_bytes(n, "compact bytes")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::mount::unhex;

    /// V7: TIKV components/codec/src/byte.rs `test_read_bytes`.
    #[test]
    fn memcomparable_vectors() {
        for (input, enc) in [
            ("", "0000000000000000f7"),
            ("00", "0000000000000000f8"),
            ("010203", "0102030000000000fa"),
            ("01020300", "0102030000000000fb"),
            ("01020304050607", "0102030405060700fe"),
            ("0000000000000000", "0000000000000000ff0000000000000000f7"),
            ("0102030405060708", "0102030405060708ff0000000000000000f7"),
            ("010203040506070809", "0102030405060708ff0900000000000000f8"),
        ] {
            let mut b = Vec::new();
            encode_bytes(&mut b, &unhex(input));
            assert_eq!(b, unhex(enc), "{input}");
            let mut r = Reader::new(&b);
            assert_eq!(decode_bytes(&mut r).unwrap(), unhex(input));
            assert!(r.is_empty());
        }
    }

    /// V8: TIKV components/codec/src/byte.rs `test_write_compact_bytes_for_file`.
    #[test]
    fn compact_vectors() {
        for (input, enc) in [
            ("", "00"),
            ("hello", "0a68656c6c6f"),
            ("世界", "0ce4b896e7958c"),
        ] {
            // the encoding side: tests/emulator/src/encode/datum.rs
            assert_eq!(
                decode_compact_bytes(&mut Reader::new(&unhex(enc))).unwrap(),
                input.as_bytes()
            );
        }
    }

    #[test]
    fn malformed_is_error() {
        // marker 0xf6 means 9 pad bytes
        assert!(decode_bytes(&mut Reader::new(&unhex("0000000000000000f6"))).is_err());
        // non-zero padding
        assert!(decode_bytes(&mut Reader::new(&unhex("0102030000000001fa"))).is_err());
        // truncated group
        assert!(decode_bytes(&mut Reader::new(&unhex("01020304"))).is_err());
        // negative and too long compact lengths
        assert!(decode_compact_bytes(&mut Reader::new(&unhex("01"))).is_err());
        assert!(decode_compact_bytes(&mut Reader::new(&unhex("0a6868"))).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip_and_order(a: Vec<u8>, b: Vec<u8>) {
            let (mut ea, mut eb) = (Vec::new(), Vec::new());
            encode_bytes(&mut ea, &a);
            encode_bytes(&mut eb, &b);
            prop_assert_eq!(decode_bytes(&mut Reader::new(&ea)).unwrap(), a.clone());
            prop_assert_eq!(a.cmp(&b), ea.cmp(&eb));
        }

        #[test]
        fn garbage_never_panics(data: Vec<u8>) {
            let _ = decode_bytes(&mut Reader::new(&data));
            let _ = decode_compact_bytes(&mut Reader::new(&data));
        }
    }
}
