//! Errors of the codec layer.
//!
//! Owns [`CodecError`]. Every variant names the table (or event) and what was wrong. Only a
//! schema registry that is unavailable is retryable ([`CodecError::is_retryable`]); any other
//! error stops the changefeed at that row, before its checkpoint.

use thiserror::Error;

/// An event could not be encoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    /// The row does not fit its table metadata (wrong number or ids of columns).
    #[error("table {table}: row does not match the table metadata: {reason}")]
    ColumnMismatch { table: String, reason: String },
    /// A value has a kind the column type cannot hold (TiCDC `ErrCanalEncodeFailed`).
    #[error("table {table}, column {column}: unexpected value for the column type: {reason}")]
    UnexpectedValue {
        table: String,
        column: String,
        reason: String,
    },
    /// The schema registry was unavailable or refused a schema.
    #[error(transparent)]
    Registry(Box<super::avro::RegistryError>),
    /// The protocol cannot produce this message (e.g. a reduced row for a protocol without
    /// large-message handling).
    #[error("{protocol}: {what} is not supported")]
    Unsupported {
        protocol: &'static str,
        what: &'static str,
    },
}

impl CodecError {
    /// Whether retrying later (from the checkpoint) can succeed without the operator.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CodecError::Registry(e) if e.is_retryable())
    }
}

impl From<super::avro::RegistryError> for CodecError {
    fn from(e: super::avro::RegistryError) -> Self {
        CodecError::Registry(Box::new(e))
    }
}
