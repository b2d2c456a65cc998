//! Canal-JSON (`protocol = "canal-json"`), byte-identical to TiCDC classic v8.5.
//!
//! Owns [`CanalJsonEncoder`] and its [`CanalJsonConfig`]. Sources (tiflow `release-8.5`):
//! `pkg/sink/codec/canal/canal_json_row_event_encoder.go` (DML writer, DDL, watermark,
//! large-message handling), `canal_json_message.go` (DDL/watermark struct and its key order),
//! `canal_entry.go` (value formatting, `sqlType` promotion, DDL types),
//! `pkg/sink/codec/utils/mysql_types.go` (`mysqlType`), `pkg/sink/kafka/factory.go` (keys).
//!
//! Guarantees:
//! * DML keys in the order `id,database,table,pkNames,isDdl,type,es,ts,sql,sqlType,mysqlType,
//!   old,data[,_tidb]`; values are JSON strings or `null`, escaped as easyjson does
//!   ([`crate::codec::go_json`]); binary-charset strings are decoded as ISO-8859-1;
//! * `mysqlType` lists the same columns as `sqlType` in table order. TiCDC writes it from a Go
//!   map, so its order is random per message there: consumers compare it as a set, and so do
//!   our tests against TiCDC output; our own order is stable;
//! * DDL and watermark messages follow the Go struct order
//!   `id,database,table,pkNames,isDdl,type,es,ts,sql,sqlType,mysqlType,data,old[,_tidb]`;
//!   watermarks exist only with the TiDB extension;
//! * keys: zero-length (non-null) for rows — TiCDC hands `""` to sarama's `StringEncoder` —
//!   and null for DDL and watermark messages (`ByteEncoder(nil)`);
//! * `ts` comes from the injected [`Clock`], `es` is `commitTs >> 18`.

pub mod types;

#[cfg(test)]
mod tests;

use std::io::Write as _;
use std::sync::Arc;

use super::{
    Clock, CodecError, Encoder, Record, Reduction, SystemClock, TableCodec, tso_physical_millis,
};
use crate::codec::go_json::{write_json_string, write_latin1_json_string};
use crate::config::Protocol;
use crate::event::value_text::{write_f32, write_f64};
use crate::event::{ColumnMeta, TableMeta};
use crate::event::{DdlEvent, RowEvent, RowKind};
use crate::mount::Value;
use types::{canal_ddl_type, java_sql_type};

/// Canal-JSON options (TiCDC names in kebab-case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CanalJsonConfig {
    /// `enable-tidb-extension`: `_tidb` objects and WATERMARK messages.
    pub enable_tidb_extension: bool,
    /// `only-output-updated-columns`: `old` keeps only changed columns.
    pub only_output_updated_columns: bool,
    /// `content-compatible`: full type descriptions in `mysqlType`; implies
    /// `only-output-updated-columns`.
    pub content_compatible: bool,
    /// `[sink] delete-only-output-handle-key-columns`.
    pub delete_only_output_handle_key_columns: bool,
}

impl CanalJsonConfig {
    fn only_updated(&self) -> bool {
        self.only_output_updated_columns || self.content_compatible
    }
}

const WATERMARK_TYPE: &str = "TIDB_WATERMARK";

/// The canal-json encoder.
#[derive(Debug, Clone)]
pub struct CanalJsonEncoder {
    config: CanalJsonConfig,
    clock: Arc<dyn Clock>,
}

impl CanalJsonEncoder {
    /// An encoder stamping `ts` with the system clock.
    pub fn new(config: CanalJsonConfig) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// An encoder stamping `ts` with `clock`.
    pub fn with_clock(config: CanalJsonConfig, clock: Arc<dyn Clock>) -> Self {
        CanalJsonEncoder { config, clock }
    }

    /// The options in force.
    pub fn config(&self) -> &CanalJsonConfig {
        &self.config
    }

    /// Encodes the value of a DML message (TiCDC `newJSONMessageForDML`).
    pub fn dml_value(
        &self,
        ev: &RowEvent,
        reduction: Option<Reduction<'_>>,
    ) -> Result<Vec<u8>, CodecError> {
        let meta: &TableMeta = &ev.meta;
        let is_delete = ev.kind == RowKind::Delete;
        let only_handle_key =
            reduction.is_some() || (is_delete && self.config.delete_only_output_handle_key_columns);
        let image = ev.key_image();
        if image.len() != meta.columns.len() {
            return Err(CodecError::ColumnMismatch {
                table: ev.table.to_string(),
                reason: format!("{} values for {} columns", image.len(), meta.columns.len()),
            });
        }
        let mut out = Vec::with_capacity(capacity_hint(meta, ev));
        out.extend_from_slice(b"{\"id\":0,\"database\":");
        write_json_string(&mut out, ev.schema.as_bytes());
        out.extend_from_slice(b",\"table\":");
        write_json_string(&mut out, ev.table.as_bytes());
        out.extend_from_slice(b",\"pkNames\":[");
        let mut first = true;
        for c in meta
            .columns
            .iter()
            .filter(|c| c.selected && c.flags.is_primary_key())
        {
            if !first {
                out.push(b',');
            }
            first = false;
            write_json_string(&mut out, c.name.as_bytes());
        }
        out.extend_from_slice(b"],\"isDdl\":false,\"type\":\"");
        out.extend_from_slice(match ev.kind {
            RowKind::Insert => b"INSERT",
            RowKind::Update => b"UPDATE",
            RowKind::Delete => b"DELETE",
        });
        out.extend_from_slice(b"\",\"es\":");
        push_int(&mut out, tso_physical_millis(ev.commit_ts));
        out.extend_from_slice(b",\"ts\":");
        push_int(&mut out, self.clock.now_millis());
        out.extend_from_slice(b",\"sql\":\"\",\"sqlType\":");
        let emitted = |c: &&ColumnMeta| c.selected && (!only_handle_key || c.flags.is_handle_key());
        let mut first = true;
        for (c, v) in meta.columns.iter().zip(image) {
            if !emitted(&c) {
                continue;
            }
            out.push(if first { b'{' } else { b',' });
            first = false;
            write_json_string(&mut out, c.name.as_bytes());
            let code = java_sql_type(c, v).map_err(|reason| CodecError::UnexpectedValue {
                table: ev.table.to_string(),
                column: c.name.clone(),
                reason,
            })?;
            out.push(b':');
            push_int(&mut out, code);
        }
        out.extend_from_slice(if first { b"null" } else { b"}" });
        out.extend_from_slice(b",\"mysqlType\":{");
        let mut first = true;
        for c in meta.columns.iter().filter(emitted) {
            if !first {
                out.push(b',');
            }
            first = false;
            write_json_string(&mut out, c.name.as_bytes());
            out.push(b':');
            let ty = if self.config.content_compatible {
                &c.type_desc
            } else {
                &c.type_name
            };
            write_json_string(&mut out, ty.as_bytes());
        }
        out.push(b'}');

        match (ev.kind, &ev.new, &ev.old) {
            (RowKind::Update, Some(new), Some(old)) => {
                out.extend_from_slice(b",\"old\":");
                let compare = self.config.only_updated().then_some(new.as_slice());
                fill_columns(&mut out, meta, old, compare, only_handle_key);
                out.extend_from_slice(b",\"data\":");
                fill_columns(&mut out, meta, new, None, only_handle_key);
            }
            _ => {
                out.extend_from_slice(b",\"old\":null,\"data\":");
                fill_columns(&mut out, meta, image, None, only_handle_key);
            }
        }
        if self.config.enable_tidb_extension {
            out.extend_from_slice(b",\"_tidb\":{\"commitTs\":");
            push_int(&mut out, ev.commit_ts);
            match reduction {
                Some(Reduction::HandleKeyOnly) => out.extend_from_slice(b",\"onlyHandleKey\":true"),
                Some(Reduction::ClaimCheck { location }) => {
                    out.extend_from_slice(b",\"claimCheckLocation\":");
                    write_json_string(&mut out, location.as_bytes());
                }
                None => {}
            }
            out.push(b'}');
        }
        out.push(b'}');
        Ok(out)
    }

    /// The DDL / watermark struct of `canal_json_message.go`, written in its field order.
    #[allow(clippy::too_many_arguments)]
    fn struct_message(
        &self,
        schema: &str,
        table: &str,
        is_ddl: bool,
        event_type: &str,
        es: i64,
        sql: &str,
        extension: Option<(&str, u64)>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(192 + sql.len());
        out.extend_from_slice(b"{\"id\":0,\"database\":");
        write_json_string(&mut out, schema.as_bytes());
        out.extend_from_slice(b",\"table\":");
        write_json_string(&mut out, table.as_bytes());
        let _ = write!(out, ",\"pkNames\":null,\"isDdl\":{is_ddl},\"type\":");
        write_json_string(&mut out, event_type.as_bytes());
        let _ = write!(
            out,
            ",\"es\":{es},\"ts\":{},\"sql\":",
            self.clock.now_millis()
        );
        write_json_string(&mut out, sql.as_bytes());
        out.extend_from_slice(b",\"sqlType\":null,\"mysqlType\":null,\"data\":null,\"old\":null");
        if let Some((field, ts)) = extension {
            // `tidbExtension` fields are `omitempty`: a zero ts gives `{}`.
            out.extend_from_slice(b",\"_tidb\":{");
            if ts != 0 {
                let _ = write!(out, "\"{field}\":{ts}");
            }
            out.push(b'}');
        }
        out.push(b'}');
        out
    }
}

/// Bytes a DML message is expected to take, so its buffer is allocated once: the fixed
/// fields, each column's name three times (`sqlType`, `mysqlType`, the row) with its type and
/// punctuation, and the text of string and JSON values (numbers are covered by the
/// per-column allowance).
fn capacity_hint(meta: &TableMeta, ev: &RowEvent) -> usize {
    let names: usize = meta.columns.iter().map(|c| c.name.len()).sum();
    let text = |row: &Option<Vec<Value>>| -> usize {
        row.iter()
            .flatten()
            .map(|v| match v {
                Value::Bytes(b) => b.len(),
                Value::Json(j) => j.len(),
                _ => 0,
            })
            .sum()
    };
    let rows = if ev.old.is_some() && ev.new.is_some() {
        2
    } else {
        1
    };
    256 + (3 + rows) * names + (24 + 16 * rows) * meta.columns.len() + text(&ev.new) + text(&ev.old)
}

/// TiCDC `fillColumns`: `[{"name":"value",...}]`, or `null` when the row has no columns.
/// With `compare` (the new row of an UPDATE under only-output-updated-columns) unchanged
/// columns are left out.
fn fill_columns(
    out: &mut Vec<u8>,
    meta: &TableMeta,
    values: &[Value],
    compare: Option<&[Value]>,
    only_handle_key: bool,
) {
    if values.is_empty() {
        out.extend_from_slice(b"null");
        return;
    }
    out.extend_from_slice(b"[{");
    let mut first = true;
    for (i, (c, v)) in meta.columns.iter().zip(values).enumerate() {
        if !c.selected {
            continue;
        }
        let unchanged = compare
            .and_then(|new| new.get(i))
            .is_some_and(|n| crate::event::value_text::values_equal(n, v));
        if unchanged {
            continue;
        }
        if only_handle_key && !c.flags.is_handle_key() {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_json_string(out, c.name.as_bytes());
        out.push(b':');
        write_value(out, c, v);
    }
    out.extend_from_slice(b"}]");
}

/// One value as canal-json writes it (`formatValue` then `jwriter.String`, or `null`).
pub(crate) fn write_value(out: &mut Vec<u8>, c: &ColumnMeta, v: &Value) {
    // Numbers, decimals, dates and vectors never contain characters that need escaping, so
    // they are written between quotes directly.
    let _ = match v {
        Value::Null => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        Value::Bytes(b) if c.flags.is_binary() => {
            write_latin1_json_string(out, b);
            Ok(())
        }
        Value::Bytes(b) => {
            write_json_string(out, b);
            Ok(())
        }
        Value::Json(j) => {
            write_json_string(out, j.as_bytes());
            Ok(())
        }
        Value::Int(i) => {
            out.push(b'"');
            push_int(out, *i);
            out.push(b'"');
            Ok(())
        }
        Value::Uint(u) => {
            out.push(b'"');
            push_int(out, *u);
            out.push(b'"');
            Ok(())
        }
        Value::Float32(f) => {
            out.push(b'"');
            write_f32(out, *f);
            out.push(b'"');
            Ok(())
        }
        Value::Float64(f) => {
            out.push(b'"');
            write_f64(out, *f);
            out.push(b'"');
            Ok(())
        }
        Value::Decimal(d) => write!(out, "\"{d}\""),
        Value::Time(t) => write!(out, "\"{t}\""),
        Value::Duration(d) => write!(out, "\"{d}\""),
        Value::Enum { index, .. } => write!(out, "\"{index}\""),
        Value::Set { bits, .. } => write!(out, "\"{bits}\""),
        Value::Bit(_) => write!(out, "\"{}\"", v.bit_as_u64().unwrap_or(0)),
        Value::Vector(vec) => write!(out, "\"{vec}\""),
    };
}

impl Encoder for CanalJsonEncoder {
    fn protocol(&self) -> Protocol {
        Protocol::CanalJson
    }

    fn encode_row(
        &self,
        _table: &TableCodec,
        event: &RowEvent,
    ) -> Result<Option<Record>, CodecError> {
        Ok(Some(Record::new(
            Some(Vec::new()),
            self.dml_value(event, None)?,
        )))
    }

    fn encode_row_reduced(
        &self,
        _table: &TableCodec,
        event: &RowEvent,
        why: Reduction<'_>,
    ) -> Result<Option<Record>, CodecError> {
        Ok(Some(Record::new(
            Some(Vec::new()),
            self.dml_value(event, Some(why))?,
        )))
    }

    fn encode_ddl(&self, e: &DdlEvent) -> Result<Option<Record>, CodecError> {
        let ext = self
            .config
            .enable_tidb_extension
            .then_some(("commitTs", e.commit_ts));
        let value = self.struct_message(
            &e.table.schema,
            &e.table.table,
            true,
            canal_ddl_type(e.action),
            tso_physical_millis(e.commit_ts),
            &e.query,
            ext,
        );
        Ok(Some(Record::new(None, value)))
    }

    fn encode_watermark(&self, ts: u64) -> Result<Option<Record>, CodecError> {
        if !self.config.enable_tidb_extension {
            return Ok(None);
        }
        let value = self.struct_message(
            "",
            "",
            false,
            WATERMARK_TYPE,
            tso_physical_millis(ts),
            "",
            Some(("watermarkTs", ts)),
        );
        Ok(Some(Record::new(None, value)))
    }
}

/// Appends the decimal digits of `n`.
fn push_int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}
