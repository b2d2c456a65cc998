//! Codec: row changes, DDLs and watermarks → Kafka message bytes.
//!
//! Owns the protocol-independent interface every output format implements ([`Encoder`]) over
//! the shared event model (`crate::event`), TiCDC's update splitting ([`split`]) and TiCDC's value text ([`value_text`]); one sub-module per
//! protocol (today [`canal_json`]).
//!
//! Guarantees: nothing here does I/O except through [`Encoder::prepare_table`] (the hook a
//! schema-registry protocol uses before rows of a new table version are encoded); encoding is
//! deterministic given the injected clock; an encoder that emits nothing for an event (as
//! TiCDC's Avro does for DDL, or canal-json for watermarks without the TiDB extension) returns
//! `Ok(None)`; errors are [`CodecError`] and stop the changefeed at that event.

pub mod canal_json;
pub mod error;
pub mod split;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::event::{DdlEvent, RowEvent, TableMeta};
pub use error::CodecError;

/// One Kafka record's key and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedMessage {
    /// `None` = null key; `Some(vec![])` = zero-length key (what TiCDC's sarama producer sends
    /// for row messages of protocols without a key).
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

impl EncodedMessage {
    /// TiCDC's size accounting: `len(key) + len(value) + 36` (`common.MaxRecordOverhead`).
    pub fn length(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len) + self.value.len() + 36
    }
}

/// A message holding several rows (batching protocols such as Open protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBatch {
    pub message: EncodedMessage,
    /// How many of the input rows, in order, this message carries.
    pub rows: usize,
}

/// Why a row is re-encoded reduced to its handle-key columns (TiCDC large-message handling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction<'a> {
    /// `large-message-handle-option = "handle-key-only"`.
    HandleKeyOnly,
    /// `large-message-handle-option = "claim-check"`: the full message was stored at `location`.
    ClaimCheck { location: &'a str },
}

/// A boxed future, for the one async hook of [`Encoder`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An output protocol.
pub trait Encoder: Send + Sync + std::fmt::Debug {
    /// Protocol name as in TiCDC's `protocol` setting (`canal-json`, `avro`, ...).
    fn protocol(&self) -> &'static str;

    /// Called by the pipeline once per table version before any of its rows or DDLs is
    /// encoded (and again after a DDL changes the table). Schema-registry protocols register
    /// their schemas here; others need nothing.
    fn prepare_table<'a>(
        &'a self,
        _meta: &'a Arc<TableMeta>,
    ) -> BoxFuture<'a, Result<(), CodecError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Encodes one row change.
    fn encode_row(&self, event: &RowEvent) -> Result<Option<EncodedMessage>, CodecError>;

    /// Encodes rows of one topic-partition; batching protocols put several in one message.
    /// The default gives every row its own message.
    fn encode_rows(&self, events: &[&RowEvent]) -> Result<Vec<EncodedBatch>, CodecError> {
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            if let Some(message) = self.encode_row(e)? {
                out.push(EncodedBatch { message, rows: 1 });
            }
        }
        Ok(out)
    }

    /// Re-encodes a row that was too large, reduced to its handle-key columns. Protocols
    /// without large-message handling return [`CodecError::Unsupported`].
    fn encode_row_reduced(
        &self,
        _event: &RowEvent,
        _why: Reduction<'_>,
    ) -> Result<Option<EncodedMessage>, CodecError> {
        Err(CodecError::Unsupported {
            protocol: self.protocol(),
            what: "large-message handling",
        })
    }

    /// Encodes a DDL.
    fn encode_ddl(&self, event: &DdlEvent) -> Result<Option<EncodedMessage>, CodecError>;

    /// Encodes a watermark (TiCDC checkpoint event) at `ts`.
    fn encode_watermark(&self, ts: u64) -> Result<Option<EncodedMessage>, CodecError>;

    /// Whether a DDL message goes to every partition of its topic (TiCDC's default) or only to
    /// partition 0 (canal and canal-json).
    fn ddl_to_all_partitions(&self) -> bool {
        true
    }
}

/// The encoder of a changefeed's configured protocol; an error names the protocol when it is
/// not supported yet.
pub fn build(cf: &crate::config::ChangefeedConfig) -> Result<Arc<dyn Encoder>, String> {
    use crate::config::Protocol;
    let codec = cf
        .sink
        .kafka_config
        .as_ref()
        .map(|k| k.codec_config.clone())
        .unwrap_or_default();
    match cf.sink.protocol {
        Protocol::CanalJson => Ok(Arc::new(canal_json::CanalJsonEncoder::new(
            canal_json::CanalJsonConfig {
                enable_tidb_extension: codec.enable_tidb_extension,
                only_output_updated_columns: codec.only_output_updated_columns,
                content_compatible: codec.content_compatible,
                delete_only_output_handle_key_columns: cf
                    .sink
                    .delete_only_output_handle_key_columns,
            },
        ))),
        other => Err(format!(
            "protocol {} is not supported yet; use canal-json",
            other.name()
        )),
    }
}

/// Wall-clock milliseconds, injectable so golden tests are exact.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock stuck at one instant (tests, benches).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_millis(&self) -> i64 {
        self.0
    }
}

/// Physical milliseconds of a TSO (`commitTs >> 18`).
pub fn tso_physical_millis(ts: u64) -> i64 {
    // A u64 shifted right by 18 always fits in i64.
    i64::try_from(ts >> 18).unwrap_or(i64::MAX)
}
