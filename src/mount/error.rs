//! Typed errors of the mount layer.
//!
//! Owns [`DecodeError`] (bad bytes from TiKV: always names what could not be decoded, where,
//! and why) and [`EncodeError`] (a value that cannot be written in TiDB's format). Decoding
//! never panics on input data; every failure ends up here.

use thiserror::Error;

/// Why bytes from TiKV could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended before `what` was complete.
    #[error("truncated {what} at offset {offset}: need {needed} bytes, {available} left")]
    Truncated {
        what: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// The bytes of `what` are not a valid encoding.
    #[error("invalid {what} at offset {offset}: {reason}")]
    Invalid {
        what: &'static str,
        offset: usize,
        reason: String,
    },
    /// A column value could not be decoded; `offset` is where its bytes start in the row value.
    #[error("column `{name}` (id {id}) at row offset {offset}: {source}")]
    Column {
        id: i64,
        name: String,
        offset: usize,
        #[source]
        source: Box<DecodeError>,
    },
    /// The key is not a row key of the table being decoded.
    #[error("key {key_hex} does not belong to table `{table}` (id {table_id}): {reason}")]
    ForeignKey {
        key_hex: String,
        table: String,
        table_id: i64,
        reason: String,
    },
    /// A row of `table` could not be decoded (what [`crate::mount::RowDecoder::decode_row`]
    /// and [`crate::mount::RowDecoder::mount`] return): the table, the row's key, and why.
    #[error("row of table `{table}` (id {table_id}) at key {key_hex}: {source}")]
    Row {
        table: String,
        table_id: i64,
        key_hex: String,
        #[source]
        source: Box<DecodeError>,
    },
}

impl DecodeError {
    pub(crate) fn invalid(what: &'static str, offset: usize, reason: impl Into<String>) -> Self {
        DecodeError::Invalid {
            what,
            offset,
            reason: reason.into(),
        }
    }

    /// Shifts every offset by `base` (for errors found in a sub-slice).
    pub(crate) fn shifted(self, base: usize) -> Self {
        match self {
            DecodeError::Truncated {
                what,
                offset,
                needed,
                available,
            } => DecodeError::Truncated {
                what,
                offset: offset + base,
                needed,
                available,
            },
            DecodeError::Invalid {
                what,
                offset,
                reason,
            } => DecodeError::Invalid {
                what,
                offset: offset + base,
                reason,
            },
            other => other,
        }
    }
}

/// Why a value could not be encoded in TiDB's format.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The value does not fit the declared type (e.g. decimal digits beyond precision).
    #[error("{what} does not fit: {reason}")]
    DoesNotFit { what: &'static str, reason: String },
    /// The value or text is malformed.
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}

pub(crate) fn does_not_fit(what: &'static str, reason: impl Into<String>) -> EncodeError {
    EncodeError::DoesNotFit {
        what,
        reason: reason.into(),
    }
}

pub(crate) fn enc_invalid(what: &'static str, reason: impl Into<String>) -> EncodeError {
    EncodeError::Invalid {
        what,
        reason: reason.into(),
    }
}
