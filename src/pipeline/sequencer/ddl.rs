//! The sequencer's DDL step: applying one finished DDL job once every table has released
//! what came before it.
//!
//! Guarantees: its messages (one per table the DDL concerns, when the table filter selects
//! the table before or after and no event filter drops it) are sent once everything before
//! them is acknowledged, and acknowledged before any later row is released; tables it drops
//! leave the tracker only then (no ticket of theirs is still on the way); afterwards the
//! subscriptions match the schema, and only each subscribed table's latest prepared version
//! is kept.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::event::{DdlEvent, TableMeta, TableName};
use crate::filter::ddl_kind_name;
use crate::model::is_system_schema;
use crate::schema::{DDL_JOB_TABLE_ID, SchemaChange};

use super::super::emitter::Step;
use super::super::error::PipelineError;
use super::super::schemas::{JobOrder, Schemas};
use super::Sequencer;

impl<S: Schemas> Sequencer<S> {
    /// Applies one DDL job: sends its messages through the emitter (which first waits for
    /// everything before them to be acknowledged) and waits for their acknowledgement, then
    /// updates the subscriptions.
    pub(super) async fn process_ddl(
        &mut self,
        order: JobOrder,
        job: S::Job,
    ) -> Result<(), PipelineError> {
        let changes = self.schemas.apply(&job).map_err(PipelineError::Schema)?;
        let events: Vec<DdlEvent> = changes
            .iter()
            .filter(|ch| self.ddl_selected(ch))
            .map(ddl_event)
            .collect();
        let (done, acked) = oneshot::channel();
        self.send(Step::Ddl {
            events,
            finished_ts: order.finished_ts,
            done,
        })
        .await?;
        acked.await.map_err(|_| PipelineError::EmitterStopped)?;
        for ch in &changes {
            for id in &ch.removed_physical {
                self.remove_table(*id);
            }
        }
        self.reconcile(order.finished_ts);
        self.tracker.resolve(DDL_JOB_TABLE_ID, order.finished_ts);
        // Every row below the DDL was released: only each subscribed table's latest version
        // can still be needed, and renames move tables between topics.
        self.topics.clear();
        let tables = &self.tables;
        let schemas = &self.schemas;
        self.prepared.retain(|(id, version), _| {
            tables.contains_key(id)
                && schemas
                    .table_at(*id, u64::MAX)
                    .is_some_and(|v| v.version_ts == *version)
        });
        tracing::info!(
            job_id = order.job_id,
            finished_ts = order.finished_ts,
            "DDL applied"
        );
        Ok(())
    }

    /// Whether a DDL is output: its table (before or after) is selected by the filter and no
    /// event filter drops its kind or query.
    fn ddl_selected(&self, ch: &SchemaChange) -> bool {
        let names = [
            Some((ch.schema.as_str(), ch.table.as_str())),
            ch.pre_schema
                .as_deref()
                .map(|s| (s, ch.pre_table.as_deref().unwrap_or(""))),
        ];
        let selected = names
            .iter()
            .flatten()
            .any(|(s, t)| !is_system_schema(s) && self.settings.table_filter.matches(s, t));
        selected
            && !self.settings.event_filters.ignores_ddl(
                &ch.schema,
                &ch.table,
                ddl_kind_name(ch.action),
                &ch.query,
            )
    }
}

/// The message-side description of one schema change.
fn ddl_event(ch: &SchemaChange) -> DdlEvent {
    DdlEvent {
        query: ch.query.clone(),
        action: ch.action,
        table: TableName {
            schema: ch.schema.clone(),
            table: ch.table.clone(),
        },
        pre_table: ch.pre_schema.as_ref().map(|s| TableName {
            schema: s.clone(),
            table: ch.pre_table.clone().unwrap_or_default(),
        }),
        meta: ch
            .table_after
            .as_ref()
            .map(|t| Arc::new(TableMeta::new(&t.info))),
        table_info: ch.table_after.as_ref().map(|t| Arc::clone(&t.info)),
        start_ts: ch.start_ts,
        commit_ts: ch.finished_ts,
    }
}
