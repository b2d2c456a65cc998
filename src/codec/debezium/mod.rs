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
//! * no tombstone follows a delete; DDLs and watermarks produce nothing (classic v8.5 emits
//!   neither); `enable-tidb-extension` changes nothing in v8.5 (`commit_ts`/`cluster_id` are
//!   always in `source`); no large-message reduction (TiCDC's config check refuses
//!   handle-key-only and claim-check for this protocol).
//!
//! Modules: [`json`] (jsoniter-compatible text), [`source`] (`payload.source`), [`schema`]
//! (Connect schemas), [`value`] (column values).

pub mod json;
pub mod schema;
pub mod source;
pub mod value;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use super::{Clock, CodecError, Encoder, Record, SystemClock, TableCodec};
use crate::config::Protocol;
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
}

impl Default for DebeziumConfig {
    fn default() -> Self {
        DebeziumConfig {
            cluster_id: "default".to_owned(),
            disable_schema: false,
            output_old_value: true,
            time_zone: TimeZone::Utc,
        }
    }
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

    fn prefix(&self, ev: &RowEvent) -> String {
        schema::schema_name(&self.config.cluster_id, &ev.schema, &ev.table)
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
                j.object_field("schema", |j| {
                    j.string_field("type", b"struct");
                    j.string_field("name", format!("{}.Key", self.prefix(ev)).as_bytes());
                    j.bool_field("optional", false);
                    j.array_field("fields", |j| {
                        for (c, _) in &keys {
                            schema::column_schema(j, c);
                        }
                    });
                });
            }
        });
        result.map(|()| j.into_bytes())
    }

    /// The value message (TiCDC `EncodeValue`).
    pub fn value(&self, ev: &RowEvent) -> Result<Vec<u8>, CodecError> {
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
                self.envelope_schema(j, ev);
            }
        });
        result.map(|()| j.into_bytes())
    }

    /// `"schema":{…Envelope…}`.
    fn envelope_schema(&self, j: &mut Json, ev: &RowEvent) {
        let prefix = self.prefix(ev);
        let mut columns = Json::with_capacity(96 * ev.meta.columns.len());
        for c in ev.meta.columns.iter().filter(|c| c.selected) {
            schema::column_schema(&mut columns, c);
        }
        for c in &ev.meta.virtual_columns {
            schema::column_schema(&mut columns, c);
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

    fn encode_row(
        &self,
        _table: &TableCodec,
        event: &RowEvent,
    ) -> Result<Option<Record>, CodecError> {
        Ok(Some(Record::new(
            Some(self.key(event)?),
            self.value(event)?,
        )))
    }

    /// Classic v8.5 emits no DDL message ("Schema Change Events are currently not
    /// supported").
    fn encode_ddl(&self, _event: &DdlEvent) -> Result<Option<Record>, CodecError> {
        Ok(None)
    }

    /// Classic v8.5 emits no checkpoint message.
    fn encode_watermark(&self, _ts: u64) -> Result<Option<Record>, CodecError> {
        Ok(None)
    }
}
