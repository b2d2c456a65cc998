//! Row format v1 (`tablecodec.EncodeOldRow` / `DecodeRowWithMap`).
//!
//! Owns the layout: a sequence of `(column id datum, value datum)` pairs, value-encoded; the
//! single byte `00` is an empty row; its reading (the emulator writes it). Guarantees: every
//! id is an integer datum; the offsets of values are reported so errors can point into the
//! row.

use super::datum::{Datum, decode_datum};
use super::error::DecodeError;
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
        assert!(decode_row_v1(&[0]).unwrap().is_empty());
        // the encoding side and the round trip: tests/emulator/src/encode/row.rs
    }

    #[test]
    fn malformed() {
        assert!(decode_row_v1(&[0x08, 0x02]).is_err()); // id without value
        assert!(decode_row_v1(&[0x02, 0x00, 0x00]).is_err()); // id is bytes
        assert!(decode_row_v1(&[0x08, 0x02, 0x02, 0x09]).is_err()); // truncated bytes
    }

    proptest! {
        #[test]
        fn garbage_never_panics(data: Vec<u8>) {
            let _ = decode_row_v1(&data);
        }
    }
}
