//! TiDB's writers: the encoders the emulator needs to store rows exactly as TiDB does, and
//! that the daemon never runs (it only reads these formats, through
//! [`tidb_changefeed::mount`]).
//!
//! Owns the inverse of mount's row-value decoders: number forms only row values use
//! ([`number`]), value-form datums and compact bytes ([`datum`]), typed values as row format
//! v2 stores them or flattened to v1 datums ([`value`]), TiDB's packed and `CoreTime` time
//! layouts ([`time`]), whole rows in formats v1 and v2 ([`row`]) and index keys ([`key`]).
//! What the daemon itself builds (memcomparable ints and bytes, record and meta keys, key
//! datums, binary JSON from text, decimals from text) stays in mount and is used from there.
//!
//! Guarantees: every encoder writes what TiDB's encoder writes, so mount's decoder reads it
//! back to the same value (the tests of this module and `tests/it/mount_rows.rs` check both
//! against TiDB's and TiKV's byte vectors and by round trip).

pub mod datum;
pub mod key;
pub mod number;
pub mod row;
pub mod time;
pub mod value;

pub use datum::{encode_compact_bytes, encode_value_datum};
pub use key::encode_index_key;
pub use row::{encode_row_v1, encode_row_v2};
pub use value::{encode_v2_value, value_to_datum};

/// Hex test vectors to bytes (tests only).
#[cfg(test)]
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test vectors are valid hex")
}
