//! Whole row values as TiDB writes them: format v1 (`tablecodec.EncodeOldRow`) and format v2
//! (`util/rowcodec/encoder.go`).
//!
//! Owns the two writers. v1: `(column id, value)` pairs as value-form datums, `00` for no
//! columns. v2: `0x80`, flags, counts, not-null ids then null ids, end offsets, values; the
//! large layout (4-byte ids and offsets) only when an id exceeds 255 or the data 65535 bytes,
//! no checksum. Guarantees: mount's row parsers ([`tidb_changefeed::mount::row_v1`],
//! [`tidb_changefeed::mount::row_v2`]) read back every column.

use tidb_changefeed::mount::datum::Datum;
use tidb_changefeed::mount::error::EncodeError;
use tidb_changefeed::mount::row_v2::{CODEC_VERSION, FLAG_LARGE};

use super::datum::encode_value_datum;

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

/// Encodes a v2 row from already-encoded column values (`None` = NULL), in any id order.
/// Column ids must be 1..=u32::MAX.
pub fn encode_row_v2(cols: &[(i64, Option<&[u8]>)]) -> Vec<u8> {
    let mut not_null: Vec<(u32, &[u8])> = Vec::new();
    let mut null: Vec<u32> = Vec::new();
    for (id, v) in cols {
        let id = u32::try_from(*id).unwrap_or(0);
        match v {
            Some(b) => not_null.push((id, b)),
            None => null.push(id),
        }
    }
    not_null.sort_by_key(|c| c.0);
    null.sort_unstable();
    let data_len: usize = not_null.iter().map(|c| c.1.len()).sum();
    let large = not_null
        .iter()
        .map(|c| c.0)
        .chain(null.iter().copied())
        .any(|id| id > 255)
        || data_len > usize::from(u16::MAX);
    let mut out = Vec::with_capacity(6 + cols.len() * 6 + data_len);
    out.push(CODEC_VERSION);
    out.push(if large { FLAG_LARGE } else { 0 });
    out.extend_from_slice(&(not_null.len() as u16).to_le_bytes());
    out.extend_from_slice(&(null.len() as u16).to_le_bytes());
    for id in not_null.iter().map(|c| c.0).chain(null.iter().copied()) {
        if large {
            out.extend_from_slice(&id.to_le_bytes());
        } else {
            out.push(id as u8);
        }
    }
    let mut end = 0usize;
    for (_, v) in &not_null {
        end += v.len();
        if large {
            out.extend_from_slice(&(end as u32).to_le_bytes());
        } else {
            out.extend_from_slice(&(end as u16).to_le_bytes());
        }
    }
    for (_, v) in &not_null {
        out.extend_from_slice(v);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tidb_changefeed::mount::row_v1::decode_row_v1;
    use tidb_changefeed::mount::row_v2::{Lookup, RowV2};

    use super::super::unhex;

    /// V3: TIDB docs/tidb_http_api.md, short_value `CAICAkE=` of key V2.
    #[test]
    fn v3_row() {
        assert_eq!(
            encode_row_v1(&[(1, Datum::Bytes(b"A".to_vec()))]).unwrap(),
            vec![0x08, 0x02, 0x02, 0x02, 0x41]
        );
        assert_eq!(encode_row_v1(&[]).unwrap(), vec![0]);
    }

    /// V5: TIKV components/tidb_query_datatype/src/codec/row/v2/encoder_for_test.rs
    /// `test_encode_big`.
    #[test]
    fn v5_large_row() {
        let v = unhex(
            "8001040001000100000003000000080000000c0000004f01000002000000030000000500000006000000e80303ff7f02",
        );
        let cols: Vec<(i64, Option<Vec<u8>>)> = vec![
            (1, Some(vec![0xe8, 0x03])),
            (3, Some(vec![3])),
            (8, Some(vec![0xff, 0x7f])),
            (12, Some(vec![2])),
            (335, None),
        ];
        let refs: Vec<(i64, Option<&[u8]>)> =
            cols.iter().map(|(i, v)| (*i, v.as_deref())).collect();
        assert_eq!(encode_row_v2(&refs), v);
    }

    #[test]
    fn empty_v2_row() {
        assert_eq!(encode_row_v2(&[]), vec![0x80, 0, 0, 0, 0, 0]);
    }

    proptest! {
        #[test]
        fn v1_roundtrip(cols in proptest::collection::vec((any::<i64>(), any::<i64>()), 1..10)) {
            let cols: Vec<(i64, Datum)> = cols.into_iter().map(|(i, v)| (i, Datum::Int(v))).collect();
            let enc = encode_row_v1(&cols).unwrap();
            let dec = decode_row_v1(&enc).unwrap();
            let back: Vec<(i64, Datum)> = dec.into_iter().map(|c| (c.id, c.datum)).collect();
            prop_assert_eq!(back, cols);
        }

        #[test]
        fn v2_roundtrip(cols in proptest::collection::btree_map(1i64..400, proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)), 0..20)) {
            let refs: Vec<(i64, Option<&[u8]>)> = cols.iter().map(|(i, v)| (*i, v.as_deref())).collect();
            let enc = encode_row_v2(&refs);
            let row = RowV2::parse(&enc).unwrap();
            for (id, v) in &cols {
                match (row.get(*id), v) {
                    (Lookup::Value { data, .. }, Some(b)) => prop_assert_eq!(data, &b[..]),
                    (Lookup::Null, None) => {}
                    (got, want) => prop_assert!(false, "{id}: {got:?} vs {want:?}"),
                }
            }
            prop_assert_eq!(row.get(1000), Lookup::Missing);
        }
    }
}
