//! The sequencer's table versions: the [`PreparedTable`] of each version, built once when its
//! first row is released.
//!
//! Owns picking the version in force at a ts, column selection (the metadata the codec sees
//! and the column ids kept), the dispatch rules' check of the version and the encoder's
//! preparation (a schema-registry protocol registers its schemas here, under the table's
//! topic) — the only per-table I/O of the hot path, never per row.
//!
//! Guarantees: a row is decoded with the table version its commit saw; a row of a table the
//! schema tracker does not know stops the changefeed naming the physical id, ts and key.

use std::sync::Arc;

use crate::event::{RowKind, TableMeta};
use crate::mount::RowDecoder;

use super::super::error::PipelineError;
use super::super::schemas::Schemas;
use super::super::worker::{PreparedTable, quoted};
use super::Sequencer;

impl<S: Schemas> Sequencer<S> {
    /// The prepared table `physical_id` belongs to as of `ts`, built once per version.
    pub(super) async fn prepared(
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
        let ctx = Arc::clone(self.down.workers.context());
        let (schema, table) = (&view.schema, &view.table);
        ctx.router
            .verify_table(schema, table, &meta)
            .map_err(|source| PipelineError::Dispatch {
                table: quoted(schema, table),
                source,
            })?;
        let topic = ctx.router.topic_for_table(schema, table);
        let codec = ctx
            .encoder
            .prepare_table(schema, table, &meta, &topic)
            .await
            .map_err(|source| PipelineError::Codec {
                table: quoted(schema, table),
                source,
            })?;
        let ignored = [RowKind::Insert, RowKind::Update, RowKind::Delete]
            .map(|k| self.settings.event_filters.ignores_dml(schema, table, k));
        let m = Arc::new(PreparedTable {
            partition: ctx.router.partition_dispatcher(schema, table).clone(),
            ignored,
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
}
