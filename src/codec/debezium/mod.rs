//! Debezium (`protocol = "debezium"`), byte-identical to TiCDC classic v8.5 (tiflow v8.5.7
//! `pkg/sink/codec/debezium/`: `codec.go`, `encoder.go`, `helper.go`).
//!
//! Owns [`DebeziumEncoder`] and its [`DebeziumConfig`]. Each row change becomes one record:
//! * key = `{"payload":{<handle-key columns>}[,"schema":{"type":"struct","name":"<prefix>.Key",
//!   "optional":false,"fields":[…]}]}` — a table without a handle key (force-replicate) gets
//!   an empty payload `{}` and an empty field list;
//! * value = `{"payload":{"source":{…},"ts_ms":<clock ms>,"transaction":null,"op":…,…}
//!   [,"schema":{…Envelope…}]}` with `"op":"c","before":null,"after":{…}` for inserts,
//!   `"op":"d","after":null,"before":{…}` for deletes and `"op":"u","before":{…},"after":{…}`
//!   for updates — `before` left out entirely with `output-old-value = false`;
//! * the `schema` blocks are left out with `debezium-disable-schema = true`; the
//!   envelope's `before`/`after` structs list the emitted columns, then the table's virtual
//!   generated columns (as TiCDC does, though their values are never in the payload);
//! * columns dropped by a column selector are in neither payload nor schema;
//! * no tombstone follows a delete; no large-message reduction (TiCDC's config check refuses
//!   handle-key-only and claim-check for this protocol).
//!
//! Two TiCDC generations, chosen by `[sink.debezium] newarch` (TiCDC's own switch for its new
//! architecture, `cdc server --newarch`):
//! * classic v8.5 (the default): DDLs and watermarks produce nothing, and
//!   `enable-tidb-extension` changes nothing (`commit_ts`/`cluster_id` are always in
//!   `source`);
//! * new architecture (pingcap/ticdc v8.5.4-release.1 and later, read at v8.5.7-release.1):
//!   every DDL of a kind Debezium describes becomes a schema-change message
//!   ([`schema_change`]) sent to every partition of the DDL's topic; with
//!   `enable-tidb-extension`, every column schema starts with `tidb_type` and each checkpoint
//!   becomes a watermark message (`"op":"m"`) on every partition of every active topic. Row
//!   messages are the same in both.
//!
//! Modules: [`json`] (jsoniter-compatible text), [`source`] (`payload.source`), [`schema`]
//! (Connect schemas), [`value`] (column values), [`schema_change`] (DDL and watermark
//! messages), [`table_change`] (a DDL's table description), [`ddl_columns`] (column
//! definitions read from a DDL query).

pub mod ddl_columns;
pub mod json;
pub mod schema;
pub mod schema_change;
pub mod source;
pub mod table_change;
pub mod value;

#[cfg(test)]
mod schema_change_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use super::{BoxFuture, Clock, CodecError, Encoder, Record, SystemClock, TableCodec};
use crate::config::{Placement, Protocol, ProtocolCaps};
use crate::event::{ColumnMeta, DdlEvent, RowEvent, RowKind, TableMeta};
use crate::mount::{TimeZone, Value};
use json::Json;

/// Debezium options (TiCDC names in the comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebeziumConfig {
    /// TiCDC server `cluster-id` (default `default`): `source.name`, `source.cluster_id`
    /// and the first part of the schema names.
    pub cluster_id: String,
    /// `debezium-disable-schema`: payload only.
    pub disable_schema: bool,
    /// `[sink.debezium] output-old-value` (default true): `before` in UPDATE messages.
    pub output_old_value: bool,
    /// The changefeed's time zone, in which TIMESTAMP values arrive (TiCDC's `--tz`).
    pub time_zone: TimeZone,
    /// `enable-tidb-extension`: with `newarch`, `tidb_type` in column schemas and watermark
    /// messages; nothing in classic v8.5.
    pub enable_tidb_extension: bool,
    /// `[sink.debezium] newarch`: TiCDC's new architecture (schema-change messages, and the
    /// TiDB extension above) instead of classic v8.5.
    pub newarch: bool,
}

impl Default for DebeziumConfig {
    fn default() -> Self {
        DebeziumConfig {
            cluster_id: "default".to_owned(),
            disable_schema: false,
            output_old_value: true,
            time_zone: TimeZone::Utc,
            enable_tidb_extension: false,
            newarch: false,
        }
    }
}

/// A table version's schema texts: the key's `schema` object and the value's
/// `"schema":{…}` member.
#[derive(Debug)]
struct TableSchemas {
    key: Vec<u8>,
    envelope: Vec<u8>,
}

/// The Debezium encoder.
#[derive(Debug, Clone)]
pub struct DebeziumEncoder {
    config: DebeziumConfig,
    clock: Arc<dyn Clock>,
}

impl DebeziumEncoder {
    /// An encoder stamping `payload.ts_ms` with the system clock.
    pub fn new(config: DebeziumConfig) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// An encoder stamping `payload.ts_ms` with `clock`.
    pub fn with_clock(config: DebeziumConfig, clock: Arc<dyn Clock>) -> Self {
        DebeziumEncoder { config, clock }
    }

    /// The options in force.
    pub fn config(&self) -> &DebeziumConfig {
        &self.config
    }

    /// `tidb_type` in column schemas (new architecture with the TiDB extension).
    fn tidb_type(&self) -> bool {
        self.config.newarch && self.config.enable_tidb_extension
    }

    fn prefix(&self, schema: &str, table: &str) -> String {
        schema::schema_name(&self.config.cluster_id, schema, table)
    }

    /// The key's `schema` object text for a table version.
    fn key_schema_text(&self, schema: &str, table: &str, meta: &TableMeta) -> Vec<u8> {
        let mut j = Json::with_capacity(256);
        j.object(|j| {
            j.string_field("type", b"struct");
            let name = format!("{}.Key", self.prefix(schema, table));
            j.string_field("name", name.as_bytes());
            j.bool_field("optional", false);
            j.array_field("fields", |j| {
                for c in meta
                    .columns
                    .iter()
                    .filter(|c| c.selected && c.flags.is_handle_key())
                {
                    schema::column_schema_with(j, c, self.tidb_type());
                }
            });
        });
        j.into_bytes()
    }

    /// The schemas of a table version, written once (they are most of a message with a
    /// schema, and the same for every row of the version).
    fn schemas(&self, schema: &str, table: &str, meta: &TableMeta) -> TableSchemas {
        let mut envelope = Json::with_capacity(1024 + 96 * meta.columns.len());
        self.envelope_schema(&mut envelope, schema, table, meta);
        TableSchemas {
            key: self.key_schema_text(schema, table, meta),
            envelope: envelope.into_bytes(),
        }
    }

    /// `"<field>":{…}` with the selected columns of one image.
    fn fields(
        &self,
        j: &mut Json,
        field: &str,
        ev: &RowEvent,
        image: &[Value],
    ) -> Result<(), CodecError> {
        let mut result = Ok(());
        j.object_field(field, |j| {
            for (c, v) in ev.meta.columns.iter().zip(image) {
                if !c.selected {
                    continue;
                }
                if let Err(reason) = value::write_value(j, c, v, &self.config.time_zone) {
                    result = Err(unexpected(ev, c, reason));
                    break;
                }
            }
        });
        result
    }

    /// The key message (TiCDC `EncodeKey`).
    pub fn key(&self, ev: &RowEvent) -> Result<Vec<u8>, CodecError> {
        self.key_with(ev, None)
    }

    /// The key message, with the table version's prepared key schema when there is one.
    fn key_with(
        &self,
        ev: &RowEvent,
        prepared: Option<&TableSchemas>,
    ) -> Result<Vec<u8>, CodecError> {
        let meta: &TableMeta = &ev.meta;
        let image = checked_image(ev)?;
        let keys: Vec<(&ColumnMeta, &Value)> = meta
            .columns
            .iter()
            .zip(image)
            .filter(|(c, _)| c.selected && c.flags.is_handle_key())
            .collect();
        let mut j = Json::with_capacity(64 + 96 * keys.len());
        let mut result = Ok(());
        j.object(|j| {
            j.object_field("payload", |j| {
                for (c, v) in &keys {
                    if let Err(reason) = value::write_value(j, c, v, &self.config.time_zone) {
                        result = Err(unexpected(ev, c, reason));
                    }
                }
            });
            if !self.config.disable_schema {
                match prepared {
                    Some(p) => j.raw_field("schema", &p.key),
                    None => {
                        let text = self.key_schema_text(&ev.schema, &ev.table, meta);
                        j.raw_field("schema", &text);
                    }
                }
            }
        });
        result.map(|()| j.into_bytes())
    }

    /// The value message (TiCDC `EncodeValue`).
    pub fn value(&self, ev: &RowEvent) -> Result<Vec<u8>, CodecError> {
        self.value_with(ev, None)
    }

    /// The value message, with the table version's prepared envelope schema when there is
    /// one.
    fn value_with(
        &self,
        ev: &RowEvent,
        prepared: Option<&TableSchemas>,
    ) -> Result<Vec<u8>, CodecError> {
        let meta: &TableMeta = &ev.meta;
        checked_image(ev)?;
        let mut j = Json::with_capacity(1024 + 160 * meta.columns.len());
        let mut result = Ok(());
        j.object(|j| {
            j.object_field("payload", |j| {
                source::write_source(
                    j,
                    &self.config.cluster_id,
                    &ev.schema,
                    &ev.table,
                    ev.commit_ts,
                );
                j.int_field("ts_ms", self.clock.now_millis());
                j.null_field("transaction");
                result = match (ev.kind, &ev.new, &ev.old) {
                    (RowKind::Insert, Some(new), _) => {
                        j.string_field("op", b"c");
                        j.null_field("before");
                        self.fields(j, "after", ev, new)
                    }
                    (RowKind::Delete, _, Some(old)) => {
                        j.string_field("op", b"d");
                        j.null_field("after");
                        self.fields(j, "before", ev, old)
                    }
                    (RowKind::Update, Some(new), Some(old)) => {
                        j.string_field("op", b"u");
                        let before = if self.config.output_old_value {
                            self.fields(j, "before", ev, old)
                        } else {
                            Ok(())
                        };
                        before.and_then(|()| self.fields(j, "after", ev, new))
                    }
                    _ => Err(CodecError::ColumnMismatch {
                        table: ev.table.to_string(),
                        reason: format!("{:?} event without the row image it needs", ev.kind),
                    }),
                };
            });
            if !self.config.disable_schema {
                match prepared {
                    Some(p) => j.raw_field_text(&p.envelope),
                    None => self.envelope_schema(j, &ev.schema, &ev.table, meta),
                }
            }
        });
        result.map(|()| j.into_bytes())
    }

    /// `"schema":{…Envelope…}`.
    fn envelope_schema(&self, j: &mut Json, schema: &str, table: &str, meta: &TableMeta) {
        let prefix = self.prefix(schema, table);
        let mut columns = Json::with_capacity(96 * meta.columns.len());
        for c in meta.columns.iter().filter(|c| c.selected) {
            schema::column_schema_with(&mut columns, c, self.tidb_type());
        }
        for c in &meta.virtual_columns {
            schema::column_schema_with(&mut columns, c, self.tidb_type());
        }
        let columns = columns.into_bytes();
        let value_name = format!("{prefix}.Value");
        j.object_field("schema", |j| {
            j.string_field("type", b"struct");
            j.bool_field("optional", false);
            j.string_field("name", format!("{prefix}.Envelope").as_bytes());
            j.int_field("version", 1);
            j.array_field("fields", |j| {
                for field in ["before", "after"] {
                    j.object_element(|j| {
                        j.string_field("type", b"struct");
                        j.bool_field("optional", true);
                        j.string_field("name", value_name.as_bytes());
                        j.string_field("field", field.as_bytes());
                        j.array_field("fields", |j| j.raw(&columns));
                    });
                }
                schema::source_schema(j);
                schema::envelope_tail(j);
            });
        });
    }
}

/// The row's key image, checked against the table's column count.
fn checked_image(ev: &RowEvent) -> Result<&[Value], CodecError> {
    let image = ev.key_image();
    for img in [&ev.new, &ev.old].into_iter().flatten() {
        if img.len() != ev.meta.columns.len() {
            return Err(CodecError::ColumnMismatch {
                table: ev.table.to_string(),
                reason: format!("{} values for {} columns", img.len(), ev.meta.columns.len()),
            });
        }
    }
    Ok(image)
}

fn unexpected(ev: &RowEvent, c: &ColumnMeta, reason: String) -> CodecError {
    CodecError::UnexpectedValue {
        table: ev.table.to_string(),
        column: c.name.clone(),
        reason,
    }
}

impl Encoder for DebeziumEncoder {
    fn protocol(&self) -> Protocol {
        Protocol::Debezium
    }

    /// Writes the table version's key and envelope schemas once (not with
    /// `debezium-disable-schema`).
    fn prepare_table<'a>(
        &'a self,
        schema: &'a str,
        table: &'a str,
        meta: &'a Arc<TableMeta>,
        _topic: &'a str,
    ) -> BoxFuture<'a, Result<TableCodec, CodecError>> {
        let codec = if self.config.disable_schema {
            TableCodec::NONE
        } else {
            TableCodec::new(self.schemas(schema, table, meta))
        };
        Box::pin(std::future::ready(Ok(codec)))
    }

    fn encode_row(
        &self,
        table: &TableCodec,
        event: &RowEvent,
    ) -> Result<Option<Record>, CodecError> {
        let prepared = table.get::<TableSchemas>();
        Ok(Some(Record::new(
            Some(self.key_with(event, prepared)?),
            self.value_with(event, prepared)?,
        )))
    }

    /// Classic v8.5: no DDL and no watermark messages. New architecture: DDLs to every
    /// partition; watermarks too with the TiDB extension.
    fn caps(&self) -> ProtocolCaps {
        let caps = Protocol::Debezium.caps();
        if !self.config.newarch {
            return caps;
        }
        ProtocolCaps {
            ddl: Placement::AllPartitions,
            watermark: if self.config.enable_tidb_extension {
                Placement::AllPartitions
            } else {
                Placement::Nowhere
            },
            ..caps
        }
    }

    /// Classic v8.5 emits no DDL message ("Schema Change Events are currently not
    /// supported"); the new architecture a schema-change message, except for DDL kinds it
    /// does not describe (which it logs and drops).
    fn encode_ddl(&self, event: &DdlEvent) -> Result<Option<Record>, CodecError> {
        if !self.config.newarch {
            return Ok(None);
        }
        let with_schema = !self.config.disable_schema;
        let value = schema_change::ddl_value(
            event,
            &self.config.cluster_id,
            self.clock.now_millis(),
            with_schema,
        );
        let Some(value) = value else {
            tracing::warn!(
                query = %event.query,
                action = event.action.0,
                "debezium: DDL of a kind without a schema-change description is not sent"
            );
            return Ok(None);
        };
        Ok(Some(Record::new(
            Some(schema_change::ddl_key(event, with_schema)),
            value,
        )))
    }

    /// Classic v8.5 emits no checkpoint message; the new architecture a watermark message
    /// with `enable-tidb-extension`.
    fn encode_watermark(&self, ts: u64) -> Result<Option<Record>, CodecError> {
        if !(self.config.newarch && self.config.enable_tidb_extension) {
            return Ok(None);
        }
        let with_schema = !self.config.disable_schema;
        let id = &self.config.cluster_id;
        Ok(Some(Record::new(
            Some(schema_change::watermark_key(id, with_schema)),
            schema_change::watermark_value(id, ts, self.clock.now_millis(), with_schema),
        )))
    }
}
