//! Avro (`protocol = "avro"`), byte-compatible with TiCDC classic v8.5's Confluent wire format
//! (reference/formats.md §3; tiflow `pkg/sink/codec/avro/`).
//!
//! Owns, per table version, the key record (the handle-key columns) and the value record (the
//! selected columns, then the TiDB extension fields when enabled), their schema texts and the
//! ids the registry gave them under `<topic with '.' → '_'>-key` / `-value` ([`AvroTable`],
//! prepared once per table version before its first row); and per row one Kafka record: key =
//! envelope of the key record; value = envelope of the full row for inserts and updates, and
//! **none** for deletes (a Kafka tombstone, key set).
//!
//! Guarantees: no DDL and no watermark messages (TiCDC's test-only `avro-enable-watermark` is
//! not built); a row never waits on the registry once its table version is prepared; schema
//! texts are TiCDC's byte for byte ([`schema`]); registry outages are retryable
//! ([`CodecError::Registry`]), refusals (incompatible schema, bad credentials) need the
//! operator and name the subject.

pub mod binary;
mod gojson;
pub mod registry;
pub mod schema;

use std::sync::Arc;

use super::{BoxFuture, CodecError, Encoder, Record, TableCodec};
use crate::config::Protocol;
use crate::event::{DdlEvent, RowEvent, RowKind, TableMeta};
pub use registry::{Registry, RegistryError};
pub use schema::{AvroModes, RecordPlan, sanitize_name};

/// The records of one table version and their registry ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvroTable {
    /// `None` when the table has no handle key (the record then has a null key).
    pub key: Option<(RecordPlan, i32)>,
    pub value: (RecordPlan, i32),
    /// `` `schema`.`table` `` for errors.
    pub name: String,
}

/// The Avro encoder of one changefeed.
#[derive(Debug)]
pub struct AvroEncoder {
    modes: AvroModes,
    registry: Arc<Registry>,
}

impl AvroEncoder {
    pub fn new(modes: AvroModes, registry: Arc<Registry>) -> Self {
        AvroEncoder { modes, registry }
    }

    /// The records of a table version, without registering them.
    pub fn plans(
        &self,
        schema: &str,
        table: &str,
        meta: &TableMeta,
    ) -> Result<(Option<RecordPlan>, RecordPlan), CodecError> {
        let selected: Vec<usize> = (0..meta.columns.len())
            .filter(|&i| meta.columns[i].selected)
            .collect();
        let key_columns: Vec<usize> = selected
            .iter()
            .copied()
            .filter(|&i| meta.columns[i].flags.is_handle_key())
            .collect();
        let key = if key_columns.is_empty() {
            None
        } else {
            Some(schema::record(
                meta,
                schema,
                table,
                &key_columns,
                &self.modes,
                false,
            )?)
        };
        let value = schema::record(
            meta,
            schema,
            table,
            &selected,
            &self.modes,
            self.modes.enable_tidb_extension,
        )?;
        Ok((key, value))
    }

    /// Checks the registry answers (run before the changefeed starts).
    pub async fn probe(&self) -> Result<(), CodecError> {
        self.registry.probe().await.map_err(CodecError::from)
    }
}

/// The subject of a topic's key or value schema (TiCDC: TopicNameStrategy on the topic with
/// `.` replaced by `_`).
pub fn subject(topic: &str, suffix: &str) -> String {
    format!("{}{suffix}", topic.replace('.', "_"))
}

fn write(
    plan: &RecordPlan,
    id: i32,
    ev: &RowEvent,
    values: &[crate::mount::Value],
    op: &str,
    table: &str,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64 + 16 * plan.fields.len());
    binary::envelope(&mut out, id);
    binary::record(&mut out, plan, values, op, ev.commit_ts).map_err(|(pos, reason)| {
        CodecError::UnexpectedValue {
            table: table.to_string(),
            column: ev
                .meta
                .columns
                .get(pos)
                .map_or_else(|| format!("#{pos}"), |c| c.name.clone()),
            reason,
        }
    })?;
    Ok(out)
}

impl Encoder for AvroEncoder {
    fn protocol(&self) -> Protocol {
        Protocol::Avro
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), CodecError>> {
        Box::pin(AvroEncoder::probe(self))
    }

    fn prepare_table<'a>(
        &'a self,
        schema: &'a str,
        table: &'a str,
        meta: &'a Arc<TableMeta>,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<TableCodec, CodecError>> {
        Box::pin(async move {
            let (key, value) = self.plans(schema, table, meta)?;
            let key = match key {
                Some(plan) => {
                    let id = self
                        .registry
                        .register(&subject(topic, "-key"), &plan.schema)
                        .await?;
                    Some((plan, id))
                }
                None => None,
            };
            let value_id = self
                .registry
                .register(&subject(topic, "-value"), &value.schema)
                .await?;
            Ok(TableCodec::new(AvroTable {
                key,
                value: (value, value_id),
                name: format!("`{schema}`.`{table}`"),
            }))
        })
    }

    fn encode_row(&self, table: &TableCodec, ev: &RowEvent) -> Result<Option<Record>, CodecError> {
        let t = table.get::<AvroTable>().ok_or(CodecError::Unsupported {
            protocol: "avro",
            what: "a row of a table version that was not prepared",
        })?;
        let key = match &t.key {
            Some((plan, id)) => Some(write(plan, *id, ev, ev.key_image(), "", &t.name)?),
            None => None,
        };
        let value = match (ev.kind, &ev.new) {
            (RowKind::Delete, _) | (_, None) => None,
            (kind, Some(new)) => {
                let op = if kind == RowKind::Insert { "c" } else { "u" };
                let (plan, id) = &t.value;
                Some(write(plan, *id, ev, new, op, &t.name)?)
            }
        };
        Ok(Some(Record {
            key,
            value,
            headers: Vec::new(),
        }))
    }

    fn encode_ddl(&self, _event: &DdlEvent) -> Result<Option<Record>, CodecError> {
        Ok(None)
    }

    fn encode_watermark(&self, _ts: u64) -> Result<Option<Record>, CodecError> {
        Ok(None)
    }
}
