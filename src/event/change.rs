//! [`KvChange`]: one committed change of one TiKV key, as the upstream client delivers it and
//! the sorter holds it — still TiDB's bytes, not yet a typed row.
//!
//! Reason to exist: between the matcher (which pairs PREWRITE with COMMIT) and the decoder
//! (which needs the table version in force at `commit_ts - 1`), changes are ordered and
//! buffered, possibly spilled to disk; nothing there needs to know the table's schema.
//!
//! Guarantees: `op` is [`OpType::Put`] for inserts and updates and [`OpType::Delete`] for
//! deletes; `old_value` is `None` when TiKV sent no previous value (never `Some(empty)` from
//! the upstream client).

/// The KV operation of a committed change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpType {
    /// Insert or update: `value` is the row after the change.
    Put,
    /// Delete: `value` is empty.
    Delete,
}

/// One committed change of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvChange {
    /// Raw TiDB key (not memcomparable-encoded).
    pub key: Vec<u8>,
    /// Row value; empty for deletes.
    pub value: Vec<u8>,
    /// Previous row value, when TiKV sent one (old-value enabled and the row existed).
    pub old_value: Option<Vec<u8>>,
    pub op: OpType,
    pub start_ts: u64,
    pub commit_ts: u64,
}

impl KvChange {
    /// Bytes this change holds in memory (what the sorter's memory quota counts).
    pub fn size(&self) -> usize {
        self.key.len() + self.value.len() + self.old_value.as_ref().map_or(0, Vec::len) + 48
    }
}
