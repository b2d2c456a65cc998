//! The processor's decode step: a released change → the typed row the emitter sends.
//!
//! Owns the [`PreparedTable`] of each table version (its row decoder, its metadata after
//! column selection, the ids the selectors keep), built once per version when its first row
//! arrives, checked against the dispatch rules and prepared by the encoder; and the decoding
//! of one change with the schema in force at `commit_ts - 1`, then the event filters.
//!
//! Guarantees: a row is decoded with the table version its commit saw; a row that cannot be
//! decoded stops the changefeed naming the table, physical id, key and commit ts.

use std::collections::HashSet;
use std::sync::Arc;

use crate::codec::TableCodec;
use crate::event::{KvChange, RowError, RowEvent, TableMeta};
use crate::mount::RowDecoder;
use crate::schema::TableVersion;

use super::super::emitter::quoted;
use super::super::error::PipelineError;
use super::super::schemas::Schemas;
use super::Processor;

/// A table version ready to decode rows and encode them.
#[derive(Debug)]
pub(super) struct PreparedTable {
    view: Arc<TableVersion>,
    decoder: RowDecoder,
    meta: Arc<TableMeta>,
    /// Column ids the selectors keep; `None` keeps all.
    keep: Option<HashSet<i64>>,
    /// What the encoder prepared for this version.
    pub(super) codec: TableCodec,
}

impl<S: Schemas> Processor<S> {
    /// The prepared table `physical_id` belongs to as of `ts`, built once per version.
    async fn prepared(
        &mut self,
        physical_id: i64,
        ts: u64,
        key: &[u8],
    ) -> Result<Arc<PreparedTable>, PipelineError> {
        let view =
            self.schemas
                .table_at(physical_id, ts)
                .ok_or_else(|| PipelineError::UnknownTable {
                    physical_id,
                    ts,
                    key: hex::encode(key),
                })?;
        if let Some(m) = self.prepared.get(&(physical_id, view.version_ts))
            && Arc::ptr_eq(&m.view, &view)
        {
            return Ok(Arc::clone(m));
        }
        let full = TableMeta::new(&view.info);
        let sel = &self.settings.column_selectors;
        let keep_all = full
            .columns
            .iter()
            .all(|c| sel.keeps(&view.schema, &view.table, &c.name));
        let (meta, keep) = if keep_all {
            (full, None)
        } else {
            let meta = full.with_selection(|c| sel.keeps(&view.schema, &view.table, &c.name));
            let keep = meta.columns.iter().map(|c| c.id).collect();
            (meta, Some(keep))
        };
        let meta = Arc::new(meta);
        let codec = self
            .emitter
            .prepare_table(&view.schema, &view.table, &meta)
            .await?;
        let m = Arc::new(PreparedTable {
            codec,
            decoder: RowDecoder::new(&view.info, self.settings.time_zone),
            meta,
            keep,
            view: Arc::clone(&view),
        });
        self.prepared
            .insert((physical_id, view.version_ts), Arc::clone(&m));
        Ok(m)
    }

    /// Decodes one released change into the row event the codec sees, or `None` when it is
    /// empty or an event filter drops it.
    /// The prepared table comes along: its encoder state goes with the row.
    pub(super) async fn decode(
        &mut self,
        physical_id: i64,
        c: KvChange,
    ) -> Result<Option<(RowEvent, Arc<PreparedTable>)>, PipelineError> {
        let m = self
            .prepared(physical_id, c.commit_ts.saturating_sub(1), &c.key)
            .await?;
        let table = || quoted(&m.view.schema, &m.view.table);
        let ev = RowEvent::decode(
            &c,
            &m.decoder,
            Arc::clone(&m.view.schema),
            Arc::clone(&m.view.table),
            Arc::clone(&m.meta),
            m.keep.as_ref(),
        )
        .map_err(|e| match e {
            RowError::Decode(source) => PipelineError::Decode {
                table: table(),
                physical_id,
                key: hex::encode(&c.key),
                commit_ts: c.commit_ts,
                source: Box::new(source),
            },
            RowError::Mismatch { reason } => PipelineError::Codec {
                table: table(),
                source: crate::codec::CodecError::ColumnMismatch {
                    table: table(),
                    reason,
                },
            },
        })?;
        let Some(ev) = ev else {
            // A delete of a row that did not exist (e.g. inserted and deleted in one
            // transaction): TiCDC skips such empty events.
            tracing::debug!(
                table = %table(),
                key = %hex::encode(&c.key),
                commit_ts = c.commit_ts,
                "skipping an empty row event"
            );
            return Ok(None);
        };
        if self
            .settings
            .event_filters
            .ignores_dml(&m.view.schema, &m.view.table, ev.kind)
        {
            return Ok(None);
        }
        Ok(Some((ev, m)))
    }
}
