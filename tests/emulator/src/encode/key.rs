//! Index keys `t{table_id}_i{index_id}{values}` (`tablecodec.EncodeIndexSeekKey`), which the
//! daemon only recognises ([`tidb_changefeed::mount::key::decode_key`]) and never builds.
//!
//! Guarantees: `decode_key` gives back the table id, index id and the encoded values.

use tidb_changefeed::mount::key::{INDEX_SEP, RECORD_KEY_LEN, TABLE_PREFIX};
use tidb_changefeed::mount::number::encode_int;

/// Builds an index key from already comparable-encoded column values (and handle, for
/// non-unique indexes).
pub fn encode_index_key(table_id: i64, index_id: i64, encoded_values: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(RECORD_KEY_LEN + encoded_values.len());
    k.push(TABLE_PREFIX);
    encode_int(&mut k, table_id);
    k.extend_from_slice(INDEX_SEP);
    encode_int(&mut k, index_id);
    k.extend_from_slice(encoded_values);
    k
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use super::super::unhex;

    /// Derived vector of upstream.md §3.9: table 104, index 1, values (5, 9); mount's
    /// `common_handle_and_index_vectors` decodes the same key.
    #[test]
    fn index_vector() {
        let k = unhex("7480000000000000685f698000000000000001038000000000000005038000000000000009");
        let values = unhex("038000000000000005038000000000000009");
        assert_eq!(encode_index_key(104, 1, &values), k);
    }
}
