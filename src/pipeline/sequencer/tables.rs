//! The sequencer's table registry: which physical tables are replicated and subscribed.
//!
//! Owns the decision whether a table version is replicated (not a system schema, selected by
//! the table filter, and with a handle key unless `force-replicate` allows keyless tables,
//! warning once per table), and keeping the subscriptions, sorters and progress entries of
//! the physical tables in step with it.
//!
//! Guarantees: a physical table is subscribed exactly while it is registered; it starts at
//! `max(start ts of the changefeed, the ts it was added at)`, and its progress entry on the
//! [`AckTracker`](crate::sink::ack::AckTracker) exists exactly as long.

use std::collections::HashSet;

use crate::model::is_system_schema;
use crate::schema::TableVersion;
use crate::sorter::TableSorter;

use super::super::schemas::Schemas;
use super::super::subscriptions::table_span;
use super::super::worker::quoted;
use super::{Sequencer, TableState};

impl<S: Schemas> Sequencer<S> {
    /// Whether a table is replicated: not a system schema, selected by the filter, and
    /// with a handle key unless `force-replicate` allows keyless tables.
    pub(super) fn replicates(&mut self, tv: &TableVersion) -> bool {
        if is_system_schema(&tv.schema)
            || !self.settings.table_filter.matches(&tv.schema, &tv.table)
        {
            return false;
        }
        if tv.has_valid_key() {
            return true;
        }
        let first = self.warned_keyless.insert(tv.table_id);
        match self.settings.force_replicate {
            Some(true) => true,
            None => {
                if first {
                    tracing::warn!(
                        table = %quoted(&tv.schema, &tv.table),
                        "the table has neither a primary key nor a NOT NULL unique key: it is replicated, but consumers cannot tell rows apart and may see duplicates after a restart; set force-replicate = true to silence this or false to skip such tables"
                    );
                }
                true
            }
            Some(false) => {
                if first {
                    tracing::warn!(
                        table = %quoted(&tv.schema, &tv.table),
                        "the table has neither a primary key nor a NOT NULL unique key and force-replicate = false: it is not replicated"
                    );
                }
                false
            }
        }
    }

    pub(super) fn add_table(&mut self, physical_id: i64, start_ts: u64) {
        if self.tables.contains_key(&physical_id) {
            return;
        }
        let span = table_span(physical_id);
        let spill = self
            .settings
            .spill_dir
            .join(format!("{}-{physical_id}.spill", self.settings.changefeed));
        let from = start_ts.max(self.settings.start_ts);
        self.tables.insert(
            physical_id,
            TableState {
                span: span.clone(),
                frontier: from,
                emitted: from,
                sorter: TableSorter::new(from, self.quota.clone(), spill),
            },
        );
        self.tracker.register(physical_id, from);
        self.spans.insert(span.clone(), physical_id);
        self.subs.add(span, from);
    }

    pub(super) fn remove_table(&mut self, physical_id: i64) {
        if let Some(t) = self.tables.remove(&physical_id) {
            self.spans.remove(&t.span);
            self.subs.remove(&t.span);
            self.tracker.remove(physical_id);
        }
    }

    /// Makes the subscriptions match the schema after a DDL: every physical table of every
    /// table the filter selects now (created, truncated, renamed into the filter, a partition
    /// added or exchanged in) is subscribed from `ts`; every other one is unsubscribed.
    pub(super) fn reconcile(&mut self, ts: u64) {
        let mut desired: HashSet<i64> = HashSet::new();
        for tv in self.schemas.tables() {
            if self.replicates(&tv) {
                desired.extend(tv.physical_ids.iter().copied());
            }
        }
        let current: Vec<i64> = self.tables.keys().copied().collect();
        for id in current {
            if !desired.contains(&id) {
                self.remove_table(id);
            }
        }
        let mut added: Vec<i64> = desired
            .into_iter()
            .filter(|id| !self.tables.contains_key(id))
            .collect();
        added.sort_unstable();
        for id in added {
            self.add_table(id, ts);
        }
    }
}
