//! TiDB raw keys (`tablecodec/tablecodec.go`, `structure/type.go`).
//!
//! Owns parsing and building of record keys `t{table_id}_r{handle}` (int handle: 8-byte
//! comparable int; common handle: comparable datums of the clustered primary key) and meta
//! keys `m{memcomparable key}{type as u64}[{memcomparable field}]`, and the recognition of
//! index keys `t{table_id}_i{index_id}{values}` (values left encoded; the emulator builds
//! them). Guarantees: `decode(encode(k)) == k`; anything else is reported as [`Key::Other`]
//! or an error, never a panic.

use super::bytes::{decode_bytes, encode_bytes};
use super::datum::{Datum, decode_datum, encode_key_datum};
use super::error::{DecodeError, EncodeError};
use super::number::{decode_int, decode_uint, encode_int, encode_uint};
use super::reader::Reader;

/// Table prefix byte.
pub const TABLE_PREFIX: u8 = b't';
/// Meta prefix byte.
pub const META_PREFIX: u8 = b'm';
const RECORD_SEP: &[u8] = b"_r";
/// Separator of an index key.
pub const INDEX_SEP: &[u8] = b"_i";
/// Length of an int-handle record key.
pub const RECORD_KEY_LEN: usize = 19;

/// The handle of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Handle {
    /// `_tidb_rowid` or the integer primary key.
    Int(i64),
    /// Clustered non-integer primary key: its comparable datums, in key order.
    Common(Vec<Datum>),
}

/// Meta key type bytes (`structure/type.go`).
pub mod meta_type {
    pub const STRING: u8 = b's';
    pub const HASH_META: u8 = b'H';
    pub const HASH_DATA: u8 = b'h';
    pub const LIST_META: u8 = b'L';
    pub const LIST_DATA: u8 = b'l';
}

/// A parsed meta key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaKey {
    /// The structure key, e.g. `DBs` or `DB:2`.
    pub key: Vec<u8>,
    /// The type byte (`s`, `h`, `H`, `l`, `L`).
    pub kind: u8,
    /// For `h`: the hash field, e.g. `Table:104`; for `l`: the 8-byte index; else empty.
    pub field: Vec<u8>,
}

/// What a raw key is.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Record {
        table_id: i64,
        handle: Handle,
    },
    Index {
        table_id: i64,
        index_id: i64,
        values: Vec<u8>,
    },
    Meta(MetaKey),
    Other,
}

/// Appends `t{table_id}_r`.
pub fn record_prefix(table_id: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(RECORD_KEY_LEN);
    k.push(TABLE_PREFIX);
    encode_int(&mut k, table_id);
    k.extend_from_slice(RECORD_SEP);
    k
}

/// Raw key range `[t{id}_r, t{id}_s)` holding every row of a physical table (TiCDC's span).
pub fn record_range(table_id: i64) -> (Vec<u8>, Vec<u8>) {
    let start = record_prefix(table_id);
    let mut end = start.clone();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    (start, end)
}

/// Builds a record key.
pub fn encode_record_key(table_id: i64, handle: &Handle) -> Result<Vec<u8>, EncodeError> {
    let mut k = record_prefix(table_id);
    match handle {
        Handle::Int(h) => encode_int(&mut k, *h),
        Handle::Common(ds) => {
            for d in ds {
                encode_key_datum(&mut k, d)?;
            }
        }
    }
    Ok(k)
}

/// Builds a meta key: `m` + memcomparable `key` + `kind` as u64 (+ memcomparable `field` for
/// hash data, or the 8-byte index for list data).
pub fn encode_meta_key(key: &[u8], kind: u8, field: &[u8]) -> Vec<u8> {
    let mut k = vec![META_PREFIX];
    encode_bytes(&mut k, key);
    encode_uint(&mut k, u64::from(kind));
    match kind {
        meta_type::HASH_DATA => encode_bytes(&mut k, field),
        meta_type::LIST_DATA => k.extend_from_slice(field),
        _ => {}
    }
    k
}

/// Parses any raw key.
pub fn decode_key(key: &[u8]) -> Result<Key, DecodeError> {
    match key.first() {
        Some(&TABLE_PREFIX) if key.len() >= 11 => {
            let mut r = Reader::new(key);
            r.read_u8("table prefix")?;
            let table_id = decode_int(&mut r)?;
            let sep = r.read_bytes(2, "key separator")?;
            if sep == RECORD_SEP {
                Ok(Key::Record {
                    table_id,
                    handle: decode_handle(r.rest()).map_err(|e| e.shifted(r.pos()))?,
                })
            } else if sep == INDEX_SEP {
                let index_id = decode_int(&mut r)?;
                Ok(Key::Index {
                    table_id,
                    index_id,
                    values: r.rest().to_vec(),
                })
            } else {
                Ok(Key::Other)
            }
        }
        Some(&META_PREFIX) => decode_meta_key(key).map(Key::Meta),
        _ => Ok(Key::Other),
    }
}

/// Parses a record key into (physical table id, handle).
pub fn decode_record_key(key: &[u8]) -> Result<(i64, Handle), DecodeError> {
    match decode_key(key)? {
        Key::Record { table_id, handle } => Ok((table_id, handle)),
        _ => Err(DecodeError::invalid(
            "record key",
            0,
            format!("{} is not t{{id}}_r{{handle}}", hex(key)),
        )),
    }
}

/// Decodes the handle part of a record key: exactly 8 bytes is an int handle, anything else
/// the datums of a common handle (TiDB `DecodeRowKey`).
pub fn decode_handle(data: &[u8]) -> Result<Handle, DecodeError> {
    let mut r = Reader::new(data);
    if data.len() == 8 {
        return Ok(Handle::Int(decode_int(&mut r)?));
    }
    if data.is_empty() {
        return Err(DecodeError::invalid("record key handle", 0, "empty"));
    }
    let mut ds = Vec::new();
    while !r.is_empty() {
        ds.push(decode_datum(&mut r)?);
    }
    Ok(Handle::Common(ds))
}

/// Parses a meta key.
pub fn decode_meta_key(key: &[u8]) -> Result<MetaKey, DecodeError> {
    let mut r = Reader::new(key);
    if r.read_u8("meta prefix")? != META_PREFIX {
        return Err(DecodeError::invalid(
            "meta key",
            0,
            "does not start with 'm'",
        ));
    }
    let k = decode_bytes(&mut r)?;
    let at = r.pos();
    let kind = decode_uint(&mut r)?;
    let kind = u8::try_from(kind)
        .map_err(|_| DecodeError::invalid("meta key type", at, format!("{kind}")))?;
    let field = match kind {
        meta_type::HASH_DATA => decode_bytes(&mut r)?,
        _ => r.rest().to_vec(),
    };
    Ok(MetaKey {
        key: k,
        kind,
        field,
    })
}

/// Strips the API v2 keyspace prefix (`x` + 3-byte keyspace id) if present.
pub fn strip_keyspace_prefix(key: &[u8]) -> &[u8] {
    match key {
        [b'x', _, _, _, rest @ ..] if !rest.is_empty() => rest,
        _ => key,
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::mount::unhex;

    /// V1: TIFLOW cdc/entry/codec_test.go TestDecodeTableID; V2: TIDB docs/tidb_http_api.md.
    #[test]
    fn record_key_vectors() {
        for (hex, tid, h) in [
            ("7480000000000000685f728000000000000001", 104, 1),
            ("7480000000000001335f728000000000000001", 307, 1),
            // tidb_ddl_job row, job 5 (derived, upstream.md §3.9)
            ("748000fffffffffffe5f728000000000000005", 281474976710654, 5),
        ] {
            assert_eq!(
                decode_record_key(&unhex(hex)).unwrap(),
                (tid, Handle::Int(h))
            );
            assert_eq!(encode_record_key(tid, &Handle::Int(h)).unwrap(), unhex(hex));
        }
    }

    #[test]
    fn common_handle_and_index_vectors() {
        // derived, upstream.md §3.9
        let k = unhex("7480000000000000685f72016162630000000000fa");
        assert_eq!(
            decode_record_key(&k).unwrap(),
            (104, Handle::Common(vec![Datum::Bytes(b"abc".to_vec())]))
        );
        let k = unhex("7480000000000000685f72038000000000000007017800000000000000f8");
        let h = Handle::Common(vec![Datum::Int(7), Datum::Bytes(b"x".to_vec())]);
        assert_eq!(decode_record_key(&k).unwrap(), (104, h.clone()));
        assert_eq!(encode_record_key(104, &h).unwrap(), k);
        let k = unhex("7480000000000000685f698000000000000001038000000000000005038000000000000009");
        match decode_key(&k).unwrap() {
            Key::Index {
                table_id,
                index_id,
                values,
            } => {
                assert_eq!((table_id, index_id), (104, 1));
                // the values are left encoded (the emulator's encode_index_key rebuilds k)
                assert_eq!(values, unhex("038000000000000005038000000000000009"));
            }
            other => panic!("{other:?}"),
        }
        let (s, e) = record_range(104);
        assert_eq!(s, unhex("7480000000000000685f72"));
        assert_eq!(e, unhex("7480000000000000685f73"));
    }

    #[test]
    fn meta_key_vectors() {
        // derived, upstream.md §3.9
        let k = unhex("6d4442730000000000fa000000000000006844423a3100000000fb");
        assert_eq!(
            decode_meta_key(&k).unwrap(),
            MetaKey {
                key: b"DBs".to_vec(),
                kind: b'h',
                field: b"DB:1".to_vec()
            }
        );
        assert_eq!(encode_meta_key(b"DBs", b'h', b"DB:1"), k);
        let k = unhex("6d44423a3200000000fb00000000000000685461626c653a3130ff3400000000000000f8");
        let m = decode_meta_key(&k).unwrap();
        assert_eq!(
            (m.key.as_slice(), m.field.as_slice()),
            (&b"DB:2"[..], &b"Table:104"[..])
        );
        assert_eq!(encode_meta_key(b"DB:2", b'h', b"Table:104"), k);
        let s = encode_meta_key(b"SchemaVersionKey", b's', b"");
        assert_eq!(decode_meta_key(&s).unwrap().kind, b's');
    }

    #[test]
    fn bad_keys() {
        assert!(decode_record_key(b"").is_err());
        assert!(decode_record_key(&unhex("7480000000000000685f72")).is_err());
        assert!(decode_record_key(&unhex("7480000000000000685f7203800000")).is_err());
        assert_eq!(decode_key(b"zzz").unwrap(), Key::Other);
        assert!(decode_meta_key(b"m").is_err());
        assert_eq!(strip_keyspace_prefix(b"x\0\0\x01t1"), b"t1");
        assert_eq!(strip_keyspace_prefix(b"t1"), b"t1");
    }

    proptest! {
        #[test]
        fn roundtrip(tid: i64, h: i64, s: Vec<u8>, key: Vec<u8>, field: Vec<u8>) {
            let k = encode_record_key(tid, &Handle::Int(h)).unwrap();
            prop_assert_eq!(decode_record_key(&k).unwrap(), (tid, Handle::Int(h)));
            let ch = Handle::Common(vec![Datum::Bytes(s), Datum::Int(h)]);
            let k = encode_record_key(tid, &ch).unwrap();
            prop_assert_eq!(decode_record_key(&k).unwrap(), (tid, ch));
            let m = encode_meta_key(&key, b'h', &field);
            prop_assert_eq!(decode_meta_key(&m).unwrap(), MetaKey { key, kind: b'h', field });
        }

        #[test]
        fn garbage_never_panics(data: Vec<u8>) {
            let _ = decode_key(&data);
            let mut t = vec![b't'];
            t.extend_from_slice(&data);
            let _ = decode_key(&t);
            let mut m = vec![b'm'];
            m.extend_from_slice(&data);
            let _ = decode_key(&m);
        }
    }
}
