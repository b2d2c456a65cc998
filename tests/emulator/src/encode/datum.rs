//! The value form of TiDB's flag-prefixed datums (`util/codec/codec.go` `EncodeValue`), which
//! row format v1 stores, and the compact byte string it uses (`EncodeCompactBytes`).
//!
//! Owns only what differs from the comparable (key) form: ints as `Varint`, uints as
//! `Uvarint`, bytes as `CompactBytes`; every other datum is written as in the key form, by
//! [`tidb_changefeed::mount::datum::encode_key_datum`]. Guarantees: mount's `decode_datum`
//! reads back the same datum.

use tidb_changefeed::mount::datum::{Datum, encode_key_datum, flag};
use tidb_changefeed::mount::error::EncodeError;
use tidb_changefeed::mount::number::encode_uvarint;

use super::number::encode_varint;

/// Appends the compact encoding (varint length, then the bytes).
pub fn encode_compact_bytes(buf: &mut Vec<u8>, data: &[u8]) {
    encode_varint(buf, data.len() as i64);
    buf.extend_from_slice(data);
}

/// Appends the value (non-comparable) encoding of a datum.
pub fn encode_value_datum(buf: &mut Vec<u8>, d: &Datum) -> Result<(), EncodeError> {
    match d {
        Datum::Int(v) => {
            buf.push(flag::VARINT);
            encode_varint(buf, *v);
        }
        Datum::Uint(v) => {
            buf.push(flag::UVARINT);
            encode_uvarint(buf, *v);
        }
        Datum::Bytes(b) => {
            buf.push(flag::COMPACT_BYTES);
            encode_compact_bytes(buf, b);
        }
        // NULL, floats, decimals, durations, JSON, vectors and MaxValue: same bytes as keys.
        other => encode_key_datum(buf, other)?,
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tidb_changefeed::mount::bytes::decode_compact_bytes;
    use tidb_changefeed::mount::datum::decode_datums;
    use tidb_changefeed::mount::reader::Reader;
    use tidb_changefeed::mount::{BinaryJson, Decimal, VectorFloat32};

    use super::super::unhex;

    /// V8: TIKV components/codec/src/byte.rs `test_write_compact_bytes_for_file`.
    #[test]
    fn compact_vectors() {
        for (input, enc) in [
            ("", "00"),
            ("hello", "0a68656c6c6f"),
            ("世界", "0ce4b896e7958c"),
        ] {
            // (mount's `compact_vectors` decodes the same bytes)
            let mut b = Vec::new();
            encode_compact_bytes(&mut b, input.as_bytes());
            assert_eq!(b, unhex(enc));
        }
    }

    fn datum_strategy() -> impl Strategy<Value = Datum> {
        prop_oneof![
            Just(Datum::Null),
            any::<i64>().prop_map(Datum::Int),
            any::<u64>().prop_map(Datum::Uint),
            proptest::num::f64::NORMAL.prop_map(Datum::Float),
            any::<Vec<u8>>().prop_map(Datum::Bytes),
            any::<i64>().prop_map(Datum::Duration),
            (0i64..1_000_000, 0u8..4).prop_map(|(v, f)| {
                let p = 7 + f;
                Datum::Decimal(Decimal::parse(&format!("-{v}"), p, f).unwrap())
            }),
            "[a-z]{0,5}".prop_map(|s| Datum::Json(
                BinaryJson::parse(&format!("{{\"k\":\"{s}\"}}")).unwrap()
            )),
            proptest::collection::vec(-1e6f32..1e6, 0..5)
                .prop_map(|v| Datum::VectorFloat32(VectorFloat32(v))),
            Just(Datum::Max),
        ]
    }

    proptest! {
        /// Both datum forms, key (mount's encoder) and value, read back by mount's decoder.
        #[test]
        fn roundtrip(ds in proptest::collection::vec(datum_strategy(), 0..6)) {
            let (mut k, mut v) = (Vec::new(), Vec::new());
            for d in &ds {
                encode_key_datum(&mut k, d).unwrap();
                encode_value_datum(&mut v, d).unwrap();
            }
            prop_assert_eq!(&decode_datums(&k).unwrap(), &ds);
            prop_assert_eq!(&decode_datums(&v).unwrap(), &ds);
        }

        #[test]
        fn compact_bytes_roundtrip(a: Vec<u8>) {
            let mut c = Vec::new();
            encode_compact_bytes(&mut c, &a);
            prop_assert_eq!(decode_compact_bytes(&mut Reader::new(&c)).unwrap(), &a[..]);
        }
    }
}
