//! The processor of one changefeed: upstream events in, Kafka messages out, in the order and
//! with the progress guarantees TiCDC's Kafka sink gives.
//!
//! Owns, per replicated physical table, its span frontier and its [`TableSorter`], plus the
//! DDL job stream's frontier and the DDL jobs waiting for their turn. For each released row
//! it picks the schema in force at `commit_ts - 1`, decodes it, applies event filters and
//! column selectors, splits key-changing UPDATEs (unless `output-raw-change-event`), routes it
//! to a topic and partition, encodes it, applies large-message handling and hands it to the
//! output with an [`AckTracker`] ticket.
//!
//! Guarantees:
//! * a table's rows are released in commit order and only up to
//!   `min(table frontier, DDL frontier, next pending DDL's finished ts - 1)`, so a row is
//!   always decoded with every DDL before it applied and never overtakes a DDL message;
//! * a DDL (ordered by its job row's commit ts, applied at its finished ts) is processed only
//!   when every table has released everything below its finished ts and the output has
//!   acknowledged it; its message is acknowledged before any later row is sent; afterwards
//!   the subscriptions match the schema (every physical table of every selected table is
//!   subscribed, new ones from the DDL's finished ts; dropped, truncated-away or renamed-out
//!   ones are unsubscribed);
//! * progress: each table's [`AckTracker`] bound moves only after everything at or below it
//!   was submitted; the checkpoint is the least bound over tables and the DDL stream;
//! * a row that cannot be decoded or encoded stops the processor with the table, key and
//!   reason; nothing after it is acknowledged past it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use crate::codec::{DdlEvent, Encoder, RowEvent, TableMeta, TableName};
use crate::dispatch::EventRouter;
use crate::filter::{ColumnSelectors, DmlKind, EventFilters, TableFilter};
use crate::model::{ActionType, is_system_schema};
use crate::mount::key::decode_record_key;
use crate::mount::{ChangeKind, DecodedColumn, RowChange, RowDecoder, RowOp, TimeZone};
use crate::sink::ack::AckTracker;
use crate::sink::kafka::Message;
use crate::sink::large_message::LargeMessagePolicy;
use crate::sorter::{MemoryQuota, Op, RawChange, TableSorter};
use crate::upstream::feed::{Span, UpstreamEvent};
use crate::upstream::matcher::{CommittedRow, RowOp as UpRowOp};

use super::error::PipelineError;
use super::output::Output;
use super::schemas::{DdlChange, JobOrder, Schemas, TableView};
use super::source::{Subscriptions, table_span};

/// TiDB's table id of `mysql.tidb_ddl_job`; the DDL stream's progress is tracked under it.
pub const DDL_JOB_TABLE_ID: i64 = 0xFFFF_FFFF_FFFF - 1;

/// Rows of one transaction buffered for TiCDC's split-and-sort before they are sent; a larger
/// transaction is handled in chunks of this many rows.
const TXN_CHUNK_ROWS: usize = 4096;

/// The processor's settings, from the changefeed configuration.
#[derive(Debug)]
pub struct Settings {
    pub changefeed: String,
    pub start_ts: u64,
    pub time_zone: TimeZone,
    pub table_filter: TableFilter,
    pub event_filters: EventFilters,
    pub column_selectors: ColumnSelectors,
    pub ignore_txn_start_ts: HashSet<u64>,
    /// `force-replicate`: `None` replicates keyless tables with a warning, `Some(true)`
    /// without one, `Some(false)` skips them with a warning (TiCDC).
    pub force_replicate: Option<bool>,
    pub output_raw_change_event: bool,
    pub spill_dir: PathBuf,
    pub memory_quota: usize,
}

/// What the output side of the processor needs.
#[derive(Debug)]
pub struct Outputs {
    pub output: Arc<Output>,
    pub encoder: Arc<dyn Encoder>,
    pub router: EventRouter,
    pub large_messages: LargeMessagePolicy,
    pub tracker: AckTracker,
}

#[derive(Debug)]
struct TableState {
    span: Span,
    /// Every row with commit ts at or below this was received.
    frontier: u64,
    /// Everything at or below this was released and submitted.
    emitted: u64,
    sorter: TableSorter,
}

/// A table version ready to decode and encode rows.
#[derive(Debug)]
struct Mounted {
    view: Arc<TableView>,
    decoder: RowDecoder,
    meta: Arc<TableMeta>,
    /// Column ids the selectors keep; `None` keeps all.
    keep: Option<HashSet<i64>>,
}

/// Counters for status reporting.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub rows_sent: u64,
    pub ddls_sent: u64,
    pub rows_received: u64,
}

/// One changefeed's processor.
pub struct Processor<S: Schemas> {
    settings: Settings,
    schemas: S,
    subs: Box<dyn Subscriptions>,
    out: Outputs,
    quota: MemoryQuota,
    tables: HashMap<i64, TableState>,
    spans: HashMap<Span, i64>,
    ddl_span: Span,
    ddl_frontier: u64,
    /// Jobs received and not yet processed, by (job row commit ts, job id).
    pending: BTreeMap<(u64, i64), (JobOrder, S::Job)>,
    seen_jobs: HashSet<i64>,
    mounted: HashMap<(i64, u64), Arc<Mounted>>,
    warned_keyless: HashSet<i64>,
    stats: Stats,
    /// Topic of each table's rows (cleared by DDLs: renames move tables).
    topics: HashMap<(Arc<str>, Arc<str>), Arc<str>>,
    /// Partition count and message size limit per topic (cleared every checkpoint tick so
    /// added partitions and changed limits are picked up).
    sink_limits: HashMap<Arc<str>, (i32, u64)>,
    rows_sent_total: ::metrics::Counter,
}

impl<S: Schemas> std::fmt::Debug for Processor<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("changefeed", &self.settings.changefeed)
            .field("tables", &self.tables.len())
            .field("ddl_frontier", &self.ddl_frontier)
            .field("pending_ddls", &self.pending.len())
            .finish()
    }
}

fn quoted(schema: &str, table: &str) -> String {
    format!("`{schema}`.`{table}`")
}

impl<S: Schemas> Processor<S> {
    /// A processor over `schemas` (already at the start ts); call [`Processor::start`] next.
    pub fn new(settings: Settings, schemas: S, subs: Box<dyn Subscriptions>, out: Outputs) -> Self {
        let quota = MemoryQuota::new(settings.memory_quota);
        let changefeed = settings.changefeed.clone();
        let ddl_span = table_span(DDL_JOB_TABLE_ID);
        let ddl_frontier = settings.start_ts;
        Processor {
            settings,
            schemas,
            subs,
            out,
            quota,
            tables: HashMap::new(),
            spans: HashMap::new(),
            ddl_span,
            ddl_frontier,
            pending: BTreeMap::new(),
            seen_jobs: HashSet::new(),
            mounted: HashMap::new(),
            warned_keyless: HashSet::new(),
            stats: Stats::default(),
            topics: HashMap::new(),
            sink_limits: HashMap::new(),
            rows_sent_total: ::metrics::counter!(crate::metrics::ROWS_SENT_TOTAL, "changefeed" => changefeed),
        }
    }

    /// Subscribes the DDL job stream and every table the filter selects.
    pub fn start(&mut self) {
        let start = self.settings.start_ts;
        self.out.tracker.register(DDL_JOB_TABLE_ID, start);
        self.subs.add(self.ddl_span.clone(), start);
        let mut names = Vec::new();
        for tv in self.schemas.tables() {
            if self.replicates(&tv) {
                names.push(quoted(&tv.schema, &tv.table));
                for id in tv.physical_ids.clone() {
                    self.add_table(id, start);
                }
            }
        }
        tracing::info!(
            start_ts = start,
            tables = names.len(),
            "replicating {}",
            if names.is_empty() {
                "no table yet".to_string()
            } else {
                names.join(", ")
            }
        );
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Physical tables subscribed now.
    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    /// The least frontier over the tables and the DDL stream: everything at or below it
    /// was received.
    pub fn resolved_ts(&self) -> u64 {
        self.tables
            .values()
            .map(|t| t.frontier)
            .fold(self.ddl_frontier, u64::min)
    }

    /// The changefeed checkpoint: everything at or below it is acknowledged.
    pub fn checkpoint(&self) -> u64 {
        self.out
            .tracker
            .checkpoint()
            .unwrap_or(self.settings.start_ts)
            .max(self.settings.start_ts)
    }

    /// Whether a table is replicated: not a system schema, selected by the filter, and
    /// with a handle key unless `force-replicate` allows keyless tables.
    fn replicates(&mut self, tv: &TableView) -> bool {
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

    fn add_table(&mut self, physical_id: i64, start_ts: u64) {
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
        self.out.tracker.register(physical_id, from);
        self.spans.insert(span.clone(), physical_id);
        self.subs.add(span, from);
    }

    fn remove_table(&mut self, physical_id: i64) {
        if let Some(t) = self.tables.remove(&physical_id) {
            self.spans.remove(&t.span);
            self.subs.remove(&t.span);
            self.out.tracker.remove(physical_id);
        }
    }

    /// Handles one upstream event.
    pub async fn handle(&mut self, ev: UpstreamEvent) -> Result<(), PipelineError> {
        match ev {
            UpstreamEvent::Row(row) => self.on_row(row),
            UpstreamEvent::Resolved { span, ts } => {
                if span == self.ddl_span {
                    if ts > self.ddl_frontier {
                        self.ddl_frontier = ts;
                        self.advance(None).await?;
                    }
                } else if let Some(&id) = self.spans.get(&span)
                    && let Some(t) = self.tables.get_mut(&id)
                    && ts > t.frontier
                {
                    t.frontier = ts;
                    self.advance(Some(id)).await?;
                }
                Ok(())
            }
        }
    }

    fn on_row(&mut self, row: CommittedRow) -> Result<(), PipelineError> {
        let (physical_id, _) =
            decode_record_key(&row.key).map_err(|source| PipelineError::Decode {
                table: "(unknown)".to_string(),
                physical_id: 0,
                key: hex::encode(&row.key),
                commit_ts: row.commit_ts,
                source: Box::new(source),
            })?;
        if physical_id == DDL_JOB_TABLE_ID {
            let job = self
                .schemas
                .job_from_row(&row)
                .map_err(PipelineError::Schema)?;
            if let Some((order, job)) = job
                && self.seen_jobs.insert(order.job_id)
            {
                tracing::debug!(
                    job_id = order.job_id,
                    finished_ts = order.finished_ts,
                    "DDL job received"
                );
                self.pending
                    .insert((row.commit_ts, order.job_id), (order, job));
            }
            return Ok(());
        }
        let Some(t) = self.tables.get_mut(&physical_id) else {
            return Ok(());
        };
        self.stats.rows_received += 1;
        let change = RawChange {
            key: row.key,
            value: row.value,
            old_value: (!row.old_value.is_empty()).then_some(row.old_value),
            op: match row.op {
                UpRowOp::Put => Op::Put,
                UpRowOp::Delete => Op::Delete,
            },
            start_ts: row.start_ts,
            commit_ts: row.commit_ts,
        };
        t.sorter.push(change)?;
        Ok(())
    }

    /// Where rows may be released up to, given the DDL stream.
    fn barrier(&self) -> u64 {
        let next_ddl = self
            .pending
            .values()
            .map(|(o, _)| o.finished_ts.saturating_sub(1))
            .min()
            .unwrap_or(u64::MAX);
        self.ddl_frontier.min(next_ddl)
    }

    /// Releases what the frontiers allow (one table, or all) and processes DDLs whose turn
    /// has come.
    async fn advance(&mut self, only: Option<i64>) -> Result<(), PipelineError> {
        let mut only = only;
        loop {
            let barrier = self.barrier();
            let ids: Vec<i64> = match only {
                Some(id) => vec![id],
                None => self.tables.keys().copied().collect(),
            };
            for id in ids {
                let limit = match self.tables.get(&id) {
                    Some(t) => t.frontier.min(barrier),
                    None => continue,
                };
                if limit > self.tables.get(&id).map_or(u64::MAX, |t| t.emitted) {
                    self.release(id, limit).await?;
                }
            }
            let Some((&(row_commit_ts, _), (order, _))) = self.pending.first_key_value() else {
                self.out
                    .tracker
                    .resolve(DDL_JOB_TABLE_ID, self.ddl_frontier);
                return Ok(());
            };
            let below = order.finished_ts.saturating_sub(1);
            let ready = row_commit_ts <= self.ddl_frontier
                && self.tables.values().all(|t| t.emitted >= below);
            if !ready {
                self.out
                    .tracker
                    .resolve(DDL_JOB_TABLE_ID, self.ddl_frontier.min(below));
                return Ok(());
            }
            let Some((_, (order, job))) = self.pending.pop_first() else {
                return Ok(());
            };
            self.process_ddl(order, job).await?;
            // The DDL may have raised the barrier for every table.
            only = None;
        }
    }

    /// Releases `physical_id`'s rows up to `limit` and sends them.
    async fn release(&mut self, physical_id: i64, limit: u64) -> Result<(), PipelineError> {
        let mut txn: Vec<(RowEvent, i64)> = Vec::new();
        let mut txn_id: Option<(u64, u64)> = None;
        loop {
            let next = match self.tables.get_mut(&physical_id) {
                Some(t) => t.sorter.release_next(limit)?,
                None => None,
            };
            let Some(c) = next else { break };
            let id = (c.commit_ts, c.start_ts);
            if txn_id != Some(id) || txn.len() >= TXN_CHUNK_ROWS {
                self.send_txn(std::mem::take(&mut txn)).await?;
                txn_id = Some(id);
            }
            if self.settings.ignore_txn_start_ts.contains(&c.start_ts) {
                continue;
            }
            if let Some(ev) = self.mount(physical_id, c).await? {
                txn.push((ev, physical_id));
            }
        }
        self.send_txn(txn).await?;
        if let Some(t) = self.tables.get_mut(&physical_id) {
            t.emitted = t.emitted.max(limit);
        }
        self.out.tracker.resolve(physical_id, limit);
        Ok(())
    }

    /// The decoder and metadata of `physical_id` as of `ts`, built once per version.
    async fn mounted(
        &mut self,
        physical_id: i64,
        ts: u64,
        key: &[u8],
    ) -> Result<Arc<Mounted>, PipelineError> {
        let view =
            self.schemas
                .table_at(physical_id, ts)
                .ok_or_else(|| PipelineError::UnknownTable {
                    physical_id,
                    ts,
                    key: hex::encode(key),
                })?;
        if let Some(m) = self.mounted.get(&(physical_id, view.version_ts))
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
        let table_name = quoted(&view.schema, &view.table);
        self.out
            .router
            .verify_table(&view.schema, &view.table, &meta)
            .map_err(|source| PipelineError::Dispatch {
                table: table_name.clone(),
                source,
            })?;
        self.out
            .encoder
            .prepare_table(&meta)
            .await
            .map_err(|source| PipelineError::Codec {
                table: table_name,
                source,
            })?;
        let m = Arc::new(Mounted {
            decoder: RowDecoder::new(&view.info, self.settings.time_zone),
            meta,
            keep,
            view: Arc::clone(&view),
        });
        self.mounted
            .insert((physical_id, view.version_ts), Arc::clone(&m));
        Ok(m)
    }

    /// Decodes one released change into the row event the codec sees, or `None` when an
    /// event filter drops it.
    async fn mount(
        &mut self,
        physical_id: i64,
        c: RawChange,
    ) -> Result<Option<RowEvent>, PipelineError> {
        let m = self
            .mounted(physical_id, c.commit_ts.saturating_sub(1), &c.key)
            .await?;
        let op = match c.op {
            Op::Put => RowOp::Put,
            Op::Delete => RowOp::Delete,
        };
        let change = m
            .decoder
            .mount(
                &c.key,
                &c.value,
                c.old_value.as_deref().unwrap_or(&[]),
                op,
                c.commit_ts,
            )
            .map_err(|source| PipelineError::Decode {
                table: quoted(&m.view.schema, &m.view.table),
                physical_id,
                key: hex::encode(&c.key),
                commit_ts: c.commit_ts,
                source: Box::new(source),
            })?;
        if change.new.is_none() && change.old.is_none() {
            // A delete of a row that did not exist (e.g. inserted and deleted in one
            // transaction): TiCDC skips such empty events.
            tracing::debug!(
                table = %quoted(&m.view.schema, &m.view.table),
                key = %hex::encode(&c.key),
                commit_ts = c.commit_ts,
                "skipping an empty row event"
            );
            return Ok(None);
        }
        let kind = match change.kind {
            ChangeKind::Insert => DmlKind::Insert,
            ChangeKind::Update => DmlKind::Update,
            ChangeKind::Delete => DmlKind::Delete,
        };
        if self
            .settings
            .event_filters
            .ignores_dml(&m.view.schema, &m.view.table, kind)
        {
            return Ok(None);
        }
        let change = match &m.keep {
            None => change,
            Some(keep) => select(change, keep),
        };
        RowEvent::from_row_change(
            Arc::clone(&m.view.schema),
            Arc::clone(&m.view.table),
            Arc::clone(&m.meta),
            change,
        )
        .map(Some)
        .map_err(|source| PipelineError::Codec {
            table: quoted(&m.view.schema, &m.view.table),
            source,
        })
    }

    /// Splits and orders one transaction's rows as TiCDC does, then sends them.
    async fn send_txn(&mut self, txn: Vec<(RowEvent, i64)>) -> Result<(), PipelineError> {
        let Some(physical_id) = txn.first().map(|(_, id)| *id) else {
            return Ok(());
        };
        let rows: Vec<RowEvent> = txn.into_iter().map(|(ev, _)| ev).collect();
        let rows =
            crate::codec::split::split_and_sort_txn(rows, self.settings.output_raw_change_event);
        for ev in &rows {
            self.send_row(ev, physical_id).await?;
        }
        Ok(())
    }

    /// The topic of a table's rows, computed once per table.
    fn row_topic(&mut self, ev: &RowEvent) -> Arc<str> {
        let key = (Arc::clone(&ev.schema), Arc::clone(&ev.table));
        if let Some(t) = self.topics.get(&key) {
            return Arc::clone(t);
        }
        let t: Arc<str> = Arc::from(self.out.router.topic_for_row(ev));
        self.topics.insert(key, Arc::clone(&t));
        t
    }

    /// Partition count and size limit of `topic`, asked from the output once per tick.
    async fn limits(&mut self, topic: &Arc<str>) -> Result<(i32, u64), PipelineError> {
        if let Some(l) = self.sink_limits.get(topic) {
            return Ok(*l);
        }
        let l = (
            self.out.output.partitions(topic).await?,
            self.out.output.max_message_bytes(topic).await?,
        );
        self.sink_limits.insert(Arc::clone(topic), l);
        Ok(l)
    }

    /// Forgets cached partition counts and size limits (called every checkpoint tick).
    pub fn refresh_sink_limits(&mut self) {
        self.sink_limits.clear();
    }

    async fn send_row(&mut self, ev: &RowEvent, physical_id: i64) -> Result<(), PipelineError> {
        let table = || quoted(&ev.schema, &ev.table);
        let topic = self.row_topic(ev);
        let (partitions, limit) = self.limits(&topic).await?;
        let partition = self
            .out
            .router
            .partition_for_row(ev, partitions)
            .map_err(|source| PipelineError::Dispatch {
                table: table(),
                source,
            })?;
        let Some(msg) = self
            .out
            .encoder
            .encode_row(ev)
            .map_err(|source| PipelineError::Codec {
                table: table(),
                source,
            })?
        else {
            return Ok(());
        };
        let msg = self
            .out
            .large_messages
            .fit(self.out.encoder.as_ref(), ev, msg, limit)?;
        let ticket = self.out.tracker.submit(physical_id, ev.commit_ts);
        self.out
            .output
            .send(
                &topic,
                partition,
                Message {
                    key: msg.key,
                    value: Some(msg.value),
                    headers: BTreeMap::new(),
                    ticket: Some(ticket),
                },
            )
            .await?;
        self.stats.rows_sent += 1;
        self.rows_sent_total.increment(1);
        Ok(())
    }

    /// Applies one DDL job: waits for everything before it to be acknowledged, updates the
    /// subscriptions, sends its messages and waits for their acknowledgement.
    async fn process_ddl(&mut self, order: JobOrder, job: S::Job) -> Result<(), PipelineError> {
        self.out.output.flush().await?;
        let changes = self.schemas.apply(&job).map_err(PipelineError::Schema)?;
        for ch in &changes {
            for id in &ch.removed_physical {
                self.remove_table(*id);
            }
            self.send_ddl(ch).await?;
        }
        self.reconcile(order.finished_ts);
        self.out.output.flush().await?;
        self.out
            .tracker
            .resolve(DDL_JOB_TABLE_ID, order.finished_ts);
        // Every row below the DDL was released: only each subscribed table's latest version
        // can still be needed.
        self.topics.clear();
        let tables = &self.tables;
        let schemas = &self.schemas;
        self.mounted.retain(|(id, version), _| {
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

    /// Makes the subscriptions match the schema after a DDL: every physical table of every
    /// table the filter selects now (created, truncated, renamed into the filter, a partition
    /// added or exchanged in) is subscribed from `ts`; every other one is unsubscribed.
    fn reconcile(&mut self, ts: u64) {
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

    /// Whether a DDL is output: its table (before or after) is selected by the filter and no
    /// event filter drops its kind or query.
    fn ddl_selected(&self, ch: &DdlChange) -> bool {
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

    async fn send_ddl(&mut self, ch: &DdlChange) -> Result<(), PipelineError> {
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
            start_ts: ch.start_ts,
            commit_ts: ch.finished_ts,
        };
        let Some(msg) =
            self.out
                .encoder
                .encode_ddl(&ev)
                .map_err(|source| PipelineError::Codec {
                    table: quoted(&ch.schema, &ch.table),
                    source,
                })?
        else {
            return Ok(());
        };
        let topic = self.out.router.topic_for_ddl(&ev);
        let partitions = if self.out.encoder.ddl_to_all_partitions() {
            self.out.output.partitions(&topic).await?
        } else {
            self.out.output.partitions(&topic).await?;
            1
        };
        for p in 0..partitions {
            let ticket = self.out.tracker.submit(DDL_JOB_TABLE_ID, ch.finished_ts);
            self.out
                .output
                .send(
                    &topic,
                    p,
                    Message {
                        key: msg.key.clone(),
                        value: Some(msg.value.clone()),
                        headers: BTreeMap::new(),
                        ticket: Some(ticket),
                    },
                )
                .await?;
        }
        self.stats.ddls_sent += 1;
        Ok(())
    }

    /// Sends a watermark at `ts` to every partition of every active topic (TiCDC's checkpoint
    /// event); protocols without watermarks send nothing. Call it only with a ts that is
    /// acknowledged (the checkpoint).
    pub async fn send_watermark(&mut self, ts: u64) -> Result<(), PipelineError> {
        let Some(msg) =
            self.out
                .encoder
                .encode_watermark(ts)
                .map_err(|source| PipelineError::Codec {
                    table: "(watermark)".to_string(),
                    source,
                })?
        else {
            return Ok(());
        };
        let mut names: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for t in self.tables.keys() {
            if let Some(v) = self.schemas.table_at(*t, u64::MAX)
                && !names.iter().any(|(s, n)| *s == v.schema && *n == v.table)
            {
                names.push((Arc::clone(&v.schema), Arc::clone(&v.table)));
            }
        }
        let topics = self
            .out
            .router
            .active_topics(names.iter().map(|(s, t)| (s.as_ref(), t.as_ref())));
        for topic in topics {
            let partitions = self.out.output.partitions(&topic).await?;
            for p in 0..partitions {
                self.out
                    .output
                    .send(
                        &topic,
                        p,
                        Message {
                            key: msg.key.clone(),
                            value: Some(msg.value.clone()),
                            headers: BTreeMap::new(),
                            ticket: None,
                        },
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Waits for every message sent so far to be acknowledged.
    pub async fn flush(&self) -> Result<(), PipelineError> {
        self.out.output.flush().await
    }

    /// Lets the schema tracker forget versions below the checkpoint.
    pub fn gc_schemas(&mut self, checkpoint: u64) {
        self.schemas.gc(checkpoint);
    }

    /// Bytes of held changes in memory, over all tables.
    pub fn sorter_memory(&self) -> usize {
        self.quota.used()
    }
}

/// Keeps only the selected columns of both images.
fn select(mut change: RowChange, keep: &HashSet<i64>) -> RowChange {
    let f = |cols: Vec<DecodedColumn>| -> Vec<DecodedColumn> {
        cols.into_iter().filter(|c| keep.contains(&c.id)).collect()
    };
    change.new = change.new.map(f);
    change.old = change.old.map(f);
    change
}

/// TiCDC's event-filter name of a DDL kind (`pkg/filter` `ddlWhiteListMap`).
pub fn ddl_kind_name(action: ActionType) -> &'static str {
    match action {
        ActionType::CREATE_SCHEMA => "create schema",
        ActionType::DROP_SCHEMA => "drop schema",
        ActionType::CREATE_TABLE => "create table",
        ActionType::DROP_TABLE => "drop table",
        ActionType::ADD_COLUMN | ActionType::ADD_COLUMNS => "add column",
        ActionType::DROP_COLUMN | ActionType::DROP_COLUMNS => "drop column",
        ActionType::ADD_INDEX => "add index",
        ActionType::DROP_INDEX => "drop index",
        ActionType::TRUNCATE_TABLE => "truncate table",
        ActionType::MODIFY_COLUMN => "modify column",
        ActionType::RENAME_TABLE | ActionType::RENAME_TABLES => "rename table",
        ActionType::SET_DEFAULT_VALUE => "set default value",
        ActionType::MODIFY_TABLE_COMMENT => "modify table comment",
        ActionType::RENAME_INDEX => "rename index",
        ActionType::ADD_TABLE_PARTITION => "add table partition",
        ActionType::DROP_TABLE_PARTITION => "drop table partition",
        ActionType::CREATE_VIEW => "create view",
        ActionType::MODIFY_TABLE_CHARSET_AND_COLLATE => "modify table charset and collate",
        ActionType::TRUNCATE_TABLE_PARTITION => "truncate table partition",
        ActionType::DROP_VIEW => "drop view",
        ActionType::RECOVER_TABLE => "recover table",
        ActionType::MODIFY_SCHEMA_CHARSET_AND_COLLATE => "modify schema charset and collate",
        ActionType::ADD_PRIMARY_KEY => "add primary key",
        ActionType::DROP_PRIMARY_KEY => "drop primary key",
        ActionType::CREATE_SEQUENCE => "create sequence",
        ActionType::ALTER_SEQUENCE => "alter sequence",
        ActionType::DROP_SEQUENCE => "drop sequence",
        ActionType::ALTER_INDEX_VISIBILITY => "alter index visibility",
        ActionType::EXCHANGE_TABLE_PARTITION => "exchange table partition",
        _ => "alter table",
    }
}
