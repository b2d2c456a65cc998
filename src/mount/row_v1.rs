//! Row format v1 (`tablecodec.EncodeOldRow` / `DecodeRowWithMap`).
//!
//! Owns the layout: a sequence of `(column id datum, value datum)` pairs, value-encoded; the
//! single byte `00` is an empty row. Guarantees: every id is an integer datum; the offsets of
//! values are reported so errors can point into the row.

use super::datum::{Datum, decode_datum, encode_value_datum};
use super::error::{DecodeError, EncodeError};
use super::reader::Reader;

/// One stored column of a v1 row.
#[derive(Debug, Clone, PartialEq)]
pub struct V1Column {
    pub id: i64,
    pub datum: Datum,
    /// Offset of the value datum in the row value.
    pub offset: usize,
}

/// Decodes every `(id, value)` pair.
pub fn decode_row_v1(value: &[u8]) -> Result<Vec<V1Column>, DecodeError> {
    if value.is_empty() || value == [0] {
        return Ok(Vec::new());
    }
    let mut r = Reader::new(value);
    let mut out = Vec::new();
    while !r.is_empty() {
        let at = r.pos();
        let id = match decode_datum(&mut r)? {
            Datum::Int(i) => i,
            Datum::Uint(u) => i64::try_from(u)
                .map_err(|_| DecodeError::invalid("v1 column id", at, format!("{u}")))?,
            other => {
                return Err(DecodeError::invalid(
                    "v1 column id",
                    at,
                    format!("{other:?} is not an integer"),
                ));
            }
        };
        let offset = r.pos();
        let datum = decode_datum(&mut r)?;
        out.push(V1Column { id, datum, offset });
    }
    Ok(out)
}

/// Encodes a v1 row (ids as varint datums, values value-encoded); no columns gives `[00]`.
pub fn encode_row_v1(cols: &[(i64, Datum)]) -> Result<Vec<u8>, EncodeError> {
    if cols.is_empty() {
        return Ok(vec![0]);
    }
    let mut out = Vec::new();
    for (id, d) in cols {
        encode_value_datum(&mut out, &Datum::Int(*id))?;
        encode_value_datum(&mut out, d)?;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// V3: TIDB docs/tidb_http_api.md, short_value `CAICAkE=` of key V2.
    #[test]
    fn v3_row() {
        let cols = decode_row_v1(&[0x08, 0x02, 0x02, 0x02, 0x41]).unwrap();
        assert_eq!(
            cols,
            vec![V1Column {
                id: 1,
                datum: Datum::Bytes(b"A".to_vec()),
                offset: 2
            }]
        );
        assert_eq!(
            encode_row_v1(&[(1, Datum::Bytes(b"A".to_vec()))]).unwrap(),
            vec![0x08, 0x02, 0x02, 0x02, 0x41]
        );
        assert!(decode_row_v1(&[0]).unwrap().is_empty());
        assert_eq!(encode_row_v1(&[]).unwrap(), vec![0]);
    }

    #[test]
    fn malformed() {
        assert!(decode_row_v1(&[0x08, 0x02]).is_err()); // id without value
        assert!(decode_row_v1(&[0x02, 0x00, 0x00]).is_err()); // id is bytes
        assert!(decode_row_v1(&[0x08, 0x02, 0x02, 0x09]).is_err()); // truncated bytes
    }

    proptest! {
        #[test]
        fn roundtrip(cols in proptest::collection::vec((any::<i64>(), any::<i64>()), 1..10)) {
            let cols: Vec<(i64, Datum)> = cols.into_iter().map(|(i, v)| (i, Datum::Int(v))).collect();
            let enc = encode_row_v1(&cols).unwrap();
            let dec = decode_row_v1(&enc).unwrap();
            let back: Vec<(i64, Datum)> = dec.into_iter().map(|c| (c.id, c.datum)).collect();
            prop_assert_eq!(back, cols);
        }

        #[test]
        fn garbage_never_panics(data: Vec<u8>) {
            let _ = decode_row_v1(&data);
        }
    }
}
