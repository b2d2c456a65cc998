//! Row format v2 ("new row format", `util/rowcodec/row.go`, `encoder.go`).
//!
//! Owns the layout: `0x80`, flags (`0x01` large, `0x02` checksum), not-null count u16 LE,
//! null count u16 LE, not-null ids then null ids (1 byte each, 4 LE when large), end offsets
//! of the not-null values (2 bytes LE, 4 when large), the values, then an optional checksum
//! (header byte, CRC32 LE, optional extra CRC32 LE). Guarantees: parsing validates counts,
//! ascending ids, monotone offsets and the checksum header before any value is read; lookups
//! distinguish a NULL column from one absent from the row. The writer is the emulator's
//! (`tests/emulator/src/encode/row.rs`).

use super::error::DecodeError;
use super::reader::Reader;

/// First byte of a v2 row.
pub const CODEC_VERSION: u8 = 0x80;
/// Flag of the large layout (4-byte ids and offsets).
pub const FLAG_LARGE: u8 = 0x01;
const FLAG_CHECKSUM: u8 = 0x02;

/// Checksum trailer of a v2 row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checksum {
    /// Bits 0-2: version (0 columns, 1 row bytes + key, 2 row bytes + handle); bit 3: extra.
    pub header: u8,
    pub value: u32,
    pub extra: Option<u32>,
}

/// Where a column is in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Stored with a value: its bytes and their offset in the row value.
    Value { data: &'a [u8], offset: usize },
    /// Stored as NULL.
    Null,
    /// Not in the row (added later, or the int handle column).
    Missing,
}

/// A parsed v2 row borrowing the row value.
#[derive(Debug, Clone)]
pub struct RowV2<'a> {
    large: bool,
    not_null: usize,
    null: usize,
    ids: &'a [u8],
    offsets: &'a [u8],
    data: &'a [u8],
    data_start: usize,
    checksum: Option<Checksum>,
}

impl<'a> RowV2<'a> {
    /// Parses and validates a v2 row.
    pub fn parse(value: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(value);
        let ver = r.read_u8("row version")?;
        if ver != CODEC_VERSION {
            return Err(DecodeError::invalid(
                "row version",
                0,
                format!("{ver:#04x} is not 0x80"),
            ));
        }
        let flags = r.read_u8("row flags")?;
        let large = flags & FLAG_LARGE != 0;
        let not_null = usize::from(r.read_u16_le("not-null column count")?);
        let null = usize::from(r.read_u16_le("null column count")?);
        let (idw, offw) = if large { (4, 4) } else { (1, 2) };
        let ids_at = r.pos();
        let ids = r.read_bytes((not_null + null) * idw, "column ids")?;
        let offsets = r.read_bytes(not_null * offw, "column offsets")?;
        let data_start = r.pos();
        let mut row = RowV2 {
            large,
            not_null,
            null,
            ids,
            offsets,
            data: &[],
            data_start,
            checksum: None,
        };
        let mut prev_end = 0usize;
        for i in 0..not_null {
            let end = row.end(i);
            if end < prev_end {
                return Err(DecodeError::invalid(
                    "column offsets",
                    data_start - offsets.len() + i * offw,
                    format!("offset {end} before {prev_end}"),
                ));
            }
            prev_end = end;
        }
        row.data = r.read_bytes(prev_end, "column values")?;
        for (lo, hi) in [(0, not_null), (not_null, not_null + null)] {
            for i in lo + 1..hi {
                if row.id(i) <= row.id(i - 1) {
                    return Err(DecodeError::invalid(
                        "column ids",
                        ids_at + i * idw,
                        format!("id {} not above {}", row.id(i), row.id(i - 1)),
                    ));
                }
            }
        }
        if flags & FLAG_CHECKSUM != 0 {
            let at = r.pos();
            let header = r.read_u8("checksum header")?;
            if header & 0b0111 > 2 {
                return Err(DecodeError::invalid(
                    "checksum header",
                    at,
                    format!("version {}", header & 0b0111),
                ));
            }
            let value = r.read_u32_le("checksum")?;
            let extra = if header & 0b1000 != 0 {
                Some(r.read_u32_le("extra checksum")?)
            } else {
                None
            };
            row.checksum = Some(Checksum {
                header,
                value,
                extra,
            });
        }
        Ok(row)
    }

    fn id(&self, i: usize) -> i64 {
        if self.large {
            let b = &self.ids[i * 4..i * 4 + 4];
            i64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        } else {
            i64::from(self.ids[i])
        }
    }

    fn end(&self, i: usize) -> usize {
        if self.large {
            let b = &self.offsets[i * 4..i * 4 + 4];
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        } else {
            usize::from(u16::from_le_bytes([
                self.offsets[i * 2],
                self.offsets[i * 2 + 1],
            ]))
        }
    }

    fn value_at(&self, i: usize) -> Lookup<'a> {
        let start = if i == 0 { 0 } else { self.end(i - 1) };
        let end = self.end(i);
        Lookup::Value {
            data: &self.data[start..end],
            offset: self.data_start + start,
        }
    }

    fn search(&self, lo: usize, hi: usize, id: i64) -> Option<usize> {
        let (mut lo, mut hi) = (lo, hi);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.id(mid).cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Equal => return Some(mid),
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        None
    }

    /// Finds a column by id.
    pub fn get(&self, id: i64) -> Lookup<'a> {
        if let Some(i) = self.search(0, self.not_null, id) {
            return self.value_at(i);
        }
        if self
            .search(self.not_null, self.not_null + self.null, id)
            .is_some()
        {
            return Lookup::Null;
        }
        Lookup::Missing
    }

    /// Stored non-NULL columns: (id, bytes, offset in the row value), ascending ids.
    pub fn values(&self) -> impl Iterator<Item = (i64, &'a [u8], usize)> + '_ {
        (0..self.not_null).map(move |i| match self.value_at(i) {
            Lookup::Value { data, offset } => (self.id(i), data, offset),
            _ => (self.id(i), &[][..], 0),
        })
    }

    /// Ids stored as NULL, ascending.
    pub fn null_ids(&self) -> impl Iterator<Item = i64> + '_ {
        (self.not_null..self.not_null + self.null).map(move |i| self.id(i))
    }

    /// Whether the large layout is used.
    pub fn is_large(&self) -> bool {
        self.large
    }

    /// The checksum trailer, if any.
    pub fn checksum(&self) -> Option<Checksum> {
        self.checksum
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::mount::unhex;

    /// V5: TIKV components/tidb_query_datatype/src/codec/row/v2/encoder_for_test.rs
    /// `test_encode_big`.
    #[test]
    fn v5_large_row() {
        let v = unhex(
            "8001040001000100000003000000080000000c0000004f01000002000000030000000500000006000000e80303ff7f02",
        );
        let row = RowV2::parse(&v).unwrap();
        assert!(row.is_large());
        let ids: Vec<i64> = row.values().map(|c| c.0).collect();
        assert_eq!(ids, vec![1, 3, 8, 12]);
        assert_eq!(row.null_ids().collect::<Vec<_>>(), vec![335]);
        assert_eq!(row.get(335), Lookup::Null);
        assert_eq!(row.get(2), Lookup::Missing);
        assert!(matches!(
            row.get(8),
            Lookup::Value {
                data: [0xff, 0x7f],
                ..
            }
        ));
        // re-encoding gives the same bytes: tests/emulator/src/encode/row.rs
    }

    #[test]
    fn empty_row_and_checksum() {
        let row = RowV2::parse(&[0x80, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(row.get(1), Lookup::Missing);
        // one column (id 1 = 7) with a version-1 checksum trailer
        let v = [
            0x80, 0x02, 1, 0, 0, 0, 1, 1, 0, 7, 0x01, 0xaa, 0xbb, 0xcc, 0xdd,
        ];
        let row = RowV2::parse(&v).unwrap();
        assert_eq!(row.checksum().unwrap().value, 0xddccbbaa);
        // unknown checksum version
        let mut bad = v;
        bad[10] = 0x05;
        assert!(RowV2::parse(&bad).is_err());
    }

    #[test]
    fn malformed_rows() {
        for hex in [
            "",
            "80",
            "7f0000000000",
            "8000010000",                         // truncated counts
            "80000100000105",                     // missing offsets
            "800001000001050000",                 // offset beyond data
            "800002000000020103000400aabbccdd",   // ids not ascending
            "8000020000000102050004001122334455", // offsets decrease
            "8002000000",
            "800200000000", // checksum flag without trailer
        ] {
            assert!(RowV2::parse(&unhex(hex)).is_err(), "{hex}");
        }
    }

    proptest! {
        #[test]
        fn garbage_never_panics(mut data: Vec<u8>, large: bool, ck: bool) {
            if !data.is_empty() { data[0] = 0x80; }
            if data.len() > 1 { data[1] = u8::from(large) | (u8::from(ck) << 1); }
            if let Ok(row) = RowV2::parse(&data) {
                for (id, _, _) in row.values() { let _ = row.get(id); }
            }
        }
    }
}
