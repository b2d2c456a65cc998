//! Codec: row changes, DDLs and watermarks → Kafka records.
//!
//! Owns the protocol-independent interface every output format implements ([`Encoder`]) over
//! the shared event model (`crate::event`): per-table state an encoder prepares once per table
//! version ([`TableCodec`]: schemas, registry ids, rendered names) and is handed back for each
//! row; the [`Record`] it produces (optional key, optional value — a tombstone has none —
//! and headers); TiCDC's update splitting ([`split`]); one sub-module per protocol
//! ([`canal_json`], [`avro`], [`debezium`], [`open`]). What each protocol does with DDLs, watermarks, topics and large
//! messages is [`crate::config::ProtocolCaps`], read by the pipeline, not matched here.
//!
//! Guarantees: nothing here does I/O except [`Encoder::prepare_table`] (a schema-registry
//! protocol registers there, before the first row of a table version is encoded); encoding is
//! deterministic given the injected clock; an encoder that emits nothing for an event (as
//! TiCDC's Avro does for DDL, or canal-json for watermarks without the TiDB extension) returns
//! `Ok(None)`; errors are [`CodecError`] and stop the changefeed at that event, before its
//! checkpoint (registry outages are retryable, the rest need the operator).

pub mod avro;
pub mod canal_json;
pub mod debezium;
pub mod error;
pub mod go_json;
mod json_escape;
pub mod open;
pub mod split;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use error::CodecError;

use crate::config::{Protocol, ProtocolCaps};
use crate::event::{DdlEvent, RowEvent, TableMeta};

/// One Kafka record as a protocol encodes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// `None` = null key; `Some(vec![])` = zero-length key (what TiCDC's sarama producer sends
    /// for row messages of protocols without a key).
    pub key: Option<Vec<u8>>,
    /// `None` = null value: a Kafka tombstone (Avro deletes).
    pub value: Option<Vec<u8>>,
    /// Record headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Record {
    /// A record with a key and a value and no headers.
    pub fn new(key: Option<Vec<u8>>, value: Vec<u8>) -> Self {
        Record {
            key,
            value: Some(value),
            headers: Vec::new(),
        }
    }

    /// TiCDC's size accounting: `len(key) + len(value) + 36` (`common.MaxRecordOverhead`).
    pub fn length(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len) + 36
    }
}

/// What an encoder prepared for one table version, handed back with each of its rows; opaque
/// to the pipeline. Protocols that need nothing per table use [`TableCodec::NONE`].
#[derive(Clone, Default)]
pub struct TableCodec(Option<Arc<dyn Any + Send + Sync>>);

impl TableCodec {
    /// Nothing prepared.
    pub const NONE: TableCodec = TableCodec(None);

    /// Wraps an encoder's per-table state.
    pub fn new<T: Any + Send + Sync>(state: T) -> Self {
        TableCodec(Some(Arc::new(state)))
    }

    /// The state, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.as_deref().and_then(|s| s.downcast_ref::<T>())
    }
}

impl std::fmt::Debug for TableCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "TableCodec(prepared)"
        } else {
            "TableCodec(none)"
        })
    }
}

/// Why a row is re-encoded reduced to its handle-key columns (TiCDC large-message handling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction<'a> {
    /// `large-message-handle-option = "handle-key-only"`.
    HandleKeyOnly,
    /// `large-message-handle-option = "claim-check"`: the full message was stored at `location`.
    ClaimCheck { location: &'a str },
}

/// A boxed future, for the async hooks of [`Encoder`] and the pipeline's outputs.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An output protocol.
pub trait Encoder: Send + Sync + std::fmt::Debug {
    /// The protocol (TiCDC's `protocol` setting).
    fn protocol(&self) -> Protocol;

    /// What the protocol does with DDLs, watermarks, topics and large messages.
    fn caps(&self) -> ProtocolCaps {
        self.protocol().caps()
    }

    /// Checks the services the encoder depends on (a schema registry) before the changefeed
    /// starts; nothing to check by default.
    fn probe(&self) -> BoxFuture<'_, Result<(), CodecError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Called once per table version before any of its rows is encoded, with the table's
    /// names and the topic its rows go to. Schema-registry protocols register their schemas
    /// here; others return [`TableCodec::NONE`].
    fn prepare_table<'a>(
        &'a self,
        _schema: &'a str,
        _table: &'a str,
        _meta: &'a Arc<TableMeta>,
        _topic: &'a str,
    ) -> BoxFuture<'a, Result<TableCodec, CodecError>> {
        Box::pin(std::future::ready(Ok(TableCodec::NONE)))
    }

    /// Encodes one row change with its table version's prepared state.
    fn encode_row(
        &self,
        table: &TableCodec,
        event: &RowEvent,
    ) -> Result<Option<Record>, CodecError>;

    /// Re-encodes a row that was too large, reduced to its handle-key columns. Protocols
    /// without large-message handling return [`CodecError::Unsupported`].
    fn encode_row_reduced(
        &self,
        _table: &TableCodec,
        _event: &RowEvent,
        _why: Reduction<'_>,
    ) -> Result<Option<Record>, CodecError> {
        Err(CodecError::Unsupported {
            protocol: self.protocol().name(),
            what: "large-message handling",
        })
    }

    /// Encodes a DDL.
    fn encode_ddl(&self, event: &DdlEvent) -> Result<Option<Record>, CodecError>;

    /// Batching protocols (`caps().batches_rows`): appends `next`, a record this encoder made
    /// for one row, to `batch`, a record of this encoder holding `rows` rows bound for the same
    /// partition, when the protocol's batch size and `limit` (the partition's message size
    /// limit in bytes) allow; `false` leaves `batch` as it was, and the caller sends it and
    /// starts a new one with `next`. Other protocols never batch.
    fn append_to_batch(
        &self,
        _batch: &mut Record,
        _rows: usize,
        _next: &Record,
        _limit: u64,
    ) -> bool {
        false
    }

    /// Encodes a watermark (TiCDC checkpoint event) at `ts`.
    fn encode_watermark(&self, ts: u64) -> Result<Option<Record>, CodecError>;
}

/// The encoder of a changefeed's configured protocol; an error names the protocol when it is
/// not supported yet. `time_zone` is the changefeed's resolved `time-zone` (the zone
/// TIMESTAMP values arrive in).
pub fn build(
    cf: &crate::config::ChangefeedConfig,
    time_zone: crate::mount::TimeZone,
) -> Result<Arc<dyn Encoder>, String> {
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
        Protocol::Avro => {
            let url = cf
                .sink
                .schema_registry
                .as_ref()
                .ok_or("protocol avro needs [changefeed.sink] schema-registry")?;
            let registry = avro::Registry::new(url.expose(), cf.sink.schema_registry_ca.as_deref())
                .map_err(|e| e.to_string())?;
            Ok(Arc::new(avro::AvroEncoder::new(
                avro::AvroModes {
                    enable_tidb_extension: codec.enable_tidb_extension,
                    decimal: codec.avro_decimal_handling_mode,
                    bigint_unsigned: codec.avro_bigint_unsigned_handling_mode,
                },
                Arc::new(registry),
            )))
        }
        Protocol::Debezium => Ok(Arc::new(debezium::DebeziumEncoder::new(
            debezium::DebeziumConfig {
                cluster_id: cf.cluster_id.clone(),
                disable_schema: codec.debezium_disable_schema,
                output_old_value: cf.sink.debezium.as_ref().is_none_or(|d| d.output_old_value),
                time_zone,
                enable_tidb_extension: codec.enable_tidb_extension,
                newarch: cf.sink.debezium.as_ref().is_some_and(|d| d.newarch),
            },
        ))),
        Protocol::OpenProtocol => Ok(Arc::new(open::OpenEncoder::new(open::OpenConfig {
            output_old_value: cf.sink.open.as_ref().is_none_or(|o| o.output_old_value),
            only_output_updated_columns: codec.only_output_updated_columns,
            delete_only_output_handle_key_columns: cf.sink.delete_only_output_handle_key_columns,
            max_batch_size: usize::try_from(codec.max_batch_size).unwrap_or(usize::MAX),
        }))),
        other => Err(format!(
            "protocol {} is not supported yet; use one of {}",
            other.name(),
            Protocol::built_names().join(", ")
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
