//! The processor's DDL step: applying one finished DDL job once every table has released
//! what came before it.
//!
//! Guarantees: before the job is applied, everything sent is acknowledged; its messages (one
//! per table the DDL concerns, when the table filter selects the table before or after and
//! no event filter drops it) are sent and acknowledged before any later row; afterwards the
//! subscriptions match the schema, and only each subscribed table's latest prepared version
//! is kept.

use std::sync::Arc;

use crate::event::{DdlEvent, TableMeta, TableName};
use crate::filter::ddl_kind_name;
use crate::model::is_system_schema;
use crate::schema::{DDL_JOB_TABLE_ID, SchemaChange};

use super::super::error::PipelineError;
use super::super::schemas::{JobOrder, Schemas};
use super::Processor;

impl<S: Schemas> Processor<S> {
    /// Applies one DDL job: waits for everything before it to be acknowledged, updates the
    /// subscriptions, sends its messages and waits for their acknowledgement.
    pub(super) async fn process_ddl(
        &mut self,
        order: JobOrder,
        job: S::Job,
    ) -> Result<(), PipelineError> {
        self.emitter.flush().await?;
        let changes = self.schemas.apply(&job).map_err(PipelineError::Schema)?;
        for ch in &changes {
            for id in &ch.removed_physical {
                self.remove_table(*id);
            }
            self.send_ddl(ch).await?;
        }
        self.reconcile(order.finished_ts);
        self.emitter.flush().await?;
        self.tracker.resolve(DDL_JOB_TABLE_ID, order.finished_ts);
        // Every row below the DDL was released: only each subscribed table's latest version
        // can still be needed.
        self.emitter.forget_topics();
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

    async fn send_ddl(&mut self, ch: &SchemaChange) -> Result<(), PipelineError> {
        if !self.ddl_selected(ch) {
            return Ok(());
        }
        let ev = DdlEvent {
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
        };
        self.emitter.send_ddl(&ev, ch.finished_ts).await?;
        Ok(())
    }
}
