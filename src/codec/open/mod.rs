//! TiCDC's Open protocol (`protocol = "open-protocol"`, alias `default`), byte-identical to
//! TiCDC classic v8.5 (tiflow v8.5.7 `pkg/sink/codec/open/`, `pkg/sink/codec/internal/`;
//! docs `ticdc/ticdc-open-protocol.md`).
//!
//! Owns [`OpenEncoder`] and [`OpenConfig`]. Each row change becomes one event — key
//! ([`message::EventKey`]: commit ts, schema, table, the integer row handle as `rid`, the
//! partition's physical id as `ptn` for partitioned tables, `t` 1) and value ([`row`]) — in a
//! record of its own ([`message::single`]); the pipeline packs consecutive events bound for
//! one partition into one record with [`Encoder::append_to_batch`], as TiCDC's batch encoder
//! does: a record takes at most `max-batch-size` events (default 16) and never grows past
//! `max-message-bytes` (TiCDC's test: record length + 36 bytes of record overhead + the next
//! event's key and value + 16 bytes of lengths). DDLs are events of `t` 2 with value
//! `{"q":…,"t":<action type>}`, sent to every partition of the DDL's topic; every checkpoint
//! is a resolved event (`t` 3, empty value) on every partition of every topic in use, with or
//! without `enable-tidb-extension`.
//!
//! Large messages: `handle-key-only` re-encodes the row with only its handle-key columns and
//! `"ohk":true` in the key; `claim-check` stores the full single-event record and sends the
//! handle-key-only value with the location in `"ccl"` (and no `ohk`), as TiCDC does.
//!
//! Modules: [`message`] (keys, DDL values, framing), [`row`] (row values), [`go_text`] (Go's
//! float and `strconv.Quote` texts).

pub mod go_text;
pub mod message;
pub mod row;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use super::{BoxFuture, CodecError, Encoder, Record, Reduction, TableCodec};
use crate::config::Protocol;
use crate::event::{DdlEvent, RowEvent, TableMeta};
use message::{EventKey, EventType};
use row::RowOptions;

/// Open protocol options (TiCDC names in the comments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenConfig {
    /// `[sink.open] output-old-value` (default true): `p` in UPDATE events.
    pub output_old_value: bool,
    /// `only-output-updated-columns`: `p` keeps only the columns that changed.
    pub only_output_updated_columns: bool,
    /// `delete-only-output-handle-key-columns`.
    pub delete_only_output_handle_key_columns: bool,
    /// `max-batch-size` (default 16): events per record.
    pub max_batch_size: usize,
}

impl Default for OpenConfig {
    fn default() -> Self {
        OpenConfig {
            output_old_value: true,
            only_output_updated_columns: false,
            delete_only_output_handle_key_columns: false,
            max_batch_size: 16,
        }
    }
}

/// A table version's columns in name order, prepared once ([`Encoder::prepare_table`]).
#[derive(Debug)]
struct ColumnOrder(Vec<usize>);

/// The Open protocol encoder.
#[derive(Debug, Clone)]
pub struct OpenEncoder {
    config: OpenConfig,
}

impl OpenEncoder {
    pub fn new(config: OpenConfig) -> Self {
        OpenEncoder { config }
    }

    fn row_options(&self) -> RowOptions {
        RowOptions {
            output_old_value: self.config.output_old_value,
            only_updated_columns: self.config.only_output_updated_columns,
            delete_only_handle_key: self.config.delete_only_output_handle_key_columns,
        }
    }

    /// The row's value, with its table version's column order from `table` (computed here
    /// when the table was not prepared).
    fn value(
        &self,
        table: &TableCodec,
        ev: &RowEvent,
        only_handle_key: bool,
    ) -> Result<Vec<u8>, CodecError> {
        match table.get::<ColumnOrder>() {
            Some(ColumnOrder(order)) => {
                row::row_value(ev, order, self.row_options(), only_handle_key)
            }
            None => row::row_value(
                ev,
                &row::column_order(&ev.meta),
                self.row_options(),
                only_handle_key,
            ),
        }
    }

    /// The event key of a row.
    fn row_key<'a>(&self, ev: &'a RowEvent) -> EventKey<'a> {
        EventKey {
            schema: &ev.schema,
            table: &ev.table,
            row_id: ev.row_id,
            partition: ev.meta.partitioned.then_some(ev.physical_id),
            ..EventKey::new(ev.commit_ts, EventType::Row)
        }
    }
}

impl Encoder for OpenEncoder {
    fn protocol(&self) -> Protocol {
        Protocol::OpenProtocol
    }

    fn prepare_table<'a>(
        &'a self,
        _schema: &'a str,
        _table: &'a str,
        meta: &'a Arc<TableMeta>,
        _topic: &'a str,
    ) -> BoxFuture<'a, Result<TableCodec, CodecError>> {
        let order = ColumnOrder(row::column_order(meta));
        Box::pin(std::future::ready(Ok(TableCodec::new(order))))
    }

    fn encode_row(
        &self,
        table: &TableCodec,
        event: &RowEvent,
    ) -> Result<Option<Record>, CodecError> {
        let key = self.row_key(event).encode();
        let value = self.value(table, event, false)?;
        Ok(Some(message::single(&key, &value)))
    }

    fn encode_row_reduced(
        &self,
        table: &TableCodec,
        event: &RowEvent,
        why: Reduction<'_>,
    ) -> Result<Option<Record>, CodecError> {
        let mut key = self.row_key(event);
        match why {
            Reduction::HandleKeyOnly => key.only_handle_key = true,
            Reduction::ClaimCheck { location } => key.claim_check_location = location,
        }
        let value = self.value(table, event, true)?;
        Ok(Some(message::single(&key.encode(), &value)))
    }

    fn encode_ddl(&self, event: &DdlEvent) -> Result<Option<Record>, CodecError> {
        let key = EventKey {
            schema: &event.table.schema,
            table: &event.table.table,
            ..EventKey::new(event.commit_ts, EventType::Ddl)
        };
        let value = message::ddl_value(&event.query, event.action.0);
        Ok(Some(message::single(&key.encode(), &value)))
    }

    fn encode_watermark(&self, ts: u64) -> Result<Option<Record>, CodecError> {
        let key = EventKey::new(ts, EventType::Resolved).encode();
        Ok(Some(message::single(&key, &[])))
    }

    fn append_to_batch(&self, batch: &mut Record, rows: usize, next: &Record, limit: u64) -> bool {
        if rows >= self.config.max_batch_size {
            return false;
        }
        // `next` is a single event: its key carries the 8-byte version and 8-byte length, its
        // value the 8-byte length. TiCDC compares the record's length (with the 36 bytes of
        // record overhead `Record::length` counts too) plus the event's key and value plus 16.
        let event_bytes = next.key.as_ref().map_or(0, Vec::len).saturating_sub(16)
            + next.value.as_ref().map_or(0, Vec::len).saturating_sub(8);
        let grown = batch.length() + event_bytes + 16;
        if grown as u64 > limit {
            return false;
        }
        message::append(batch, next);
        true
    }
}
