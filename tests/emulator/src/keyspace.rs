//! Key-space helpers for the emulator: raw TiDB keys vs memcomparable-encoded keys.
//!
//! Owns the single rule the emulator needs for routing: regions, PD answers and
//! `ChangeDataRequest` ranges use *encoded* keys (`EncodeBytes`, no `z` prefix, no
//! ts suffix), events and KV reads use *raw* keys. Guarantees that range checks are
//! done in encoded space, so a client-supplied encoded bound never needs decoding.
//!
//! The memcomparable codec itself is [`tidb_changefeed::mount::bytes`].

/// Memcomparable `EncodeBytes` of a raw key (the codec of [`tidb_changefeed::mount::bytes`]).
#[must_use]
pub fn encode_key(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity((raw.len() / 8 + 1) * 9);
    tidb_changefeed::mount::bytes::encode_bytes(&mut out, raw);
    out
}

/// Encoded form of a region boundary: empty stays empty (= -inf / +inf).
#[must_use]
pub fn encode_bound(raw: &[u8]) -> Vec<u8> {
    if raw.is_empty() {
        Vec::new()
    } else {
        encode_key(raw)
    }
}

/// Whether `key` lies in `[start, end)`; an empty `end` is +inf. All three must be
/// in the same space (raw or encoded).
#[must_use]
pub fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    key >= start && (end.is_empty() || key < end)
}

/// Intersection of two `[start, end)` ranges (empty end = +inf); `None` if empty.
#[must_use]
pub fn intersect(a: (&[u8], &[u8]), b: (&[u8], &[u8])) -> Option<(Vec<u8>, Vec<u8>)> {
    let start = a.0.max(b.0).to_vec();
    let end = match (a.1.is_empty(), b.1.is_empty()) {
        (true, true) => Vec::new(),
        (true, false) => b.1.to_vec(),
        (false, true) => a.1.to_vec(),
        (false, false) => a.1.min(b.1).to_vec(),
    };
    if !end.is_empty() && start >= end {
        None
    } else {
        Some((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_tikv_vectors() {
        let cases: &[(&str, &str)] = &[
            ("", "0000000000000000f7"),
            ("00", "0000000000000000f8"),
            ("010203", "0102030000000000fa"),
            ("0102030405060708", "0102030405060708ff0000000000000000f7"),
            ("010203040506070809", "0102030405060708ff0900000000000000f8"),
            (
                "7480000000000000685f728000000000000001",
                "7480000000000000ff685f728000000000ff0000010000000000fa",
            ),
        ];
        for (raw, enc) in cases {
            let raw = hex::decode(raw).expect("hex");
            assert_eq!(hex::encode(encode_key(&raw)), *enc);
        }
    }

    #[test]
    fn intersection() {
        assert_eq!(
            intersect((b"a", b""), (b"b", b"c")),
            Some((b"b".to_vec(), b"c".to_vec()))
        );
        assert_eq!(intersect((b"a", b"b"), (b"b", b"")), None);
        assert_eq!(intersect((b"", b""), (b"", b"")), Some((vec![], vec![])));
    }
}
