//! Mount: TiDB's raw row KVs → typed rows.
//!
//! Owns every TiDB encoding the pipeline reads from TiKV — memcomparable and compact number
//! and byte codecs, record/index/meta keys, flag-prefixed datums, row formats v1 and v2,
//! MySQL binary decimal, packed times, binary JSON, vectors — and the row decoder that applies
//! a [`crate::model::TableInfo`] to them. Encoders here are only those the daemon runs or
//! builds on: memcomparable ints and bytes, record and meta keys (spans, meta scans) with the
//! key datums of common handles, and binary JSON, decimals and times parsed from the text of
//! column defaults. TiDB's row writers (row formats v1 and v2, value datums, typed values,
//! index keys) live with the emulator (`tests/emulator/src/encode/`).
//!
//! Guarantees: nothing downstream sees TiKV bytes; decoding never panics and never unwraps
//! input data (every failure is a typed [`DecodeError`] naming what, where and why); each
//! codec round-trips. Facts come from TiDB's and TiKV's sources (cited per module); the code
//! is our own.

pub mod bytes;
pub mod column;
pub mod datum;
pub mod decimal;
pub mod decoder;
mod default;
pub mod error;
pub mod json;
pub mod key;
pub mod number;
pub mod reader;
pub mod row_v1;
pub mod row_v2;
pub mod time;
pub mod value;
pub mod vector;

pub use datum::Datum;
pub use decimal::Decimal;
pub use decoder::{DecodedColumn, DecodedRow, RowDecoder, ValueOrigin};
pub use error::{DecodeError, EncodeError};
pub use json::BinaryJson;
pub use key::{Handle, Key};
pub use reader::Reader;
pub use time::{Duration, Time, TimeType, TimeZone};
pub use value::Value;
pub use vector::VectorFloat32;

/// Hex test vectors to bytes (tests only).
#[cfg(test)]
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test vectors are valid hex")
}
