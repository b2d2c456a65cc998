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

mod ddl;
mod decode;
mod tables;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::codec::TableCodec;
use crate::event::{KvChange, RowEvent};
use crate::filter::{ColumnSelectors, EventFilters, TableFilter};
use crate::mount::TimeZone;
use crate::mount::key::decode_record_key;
use crate::schema::DDL_JOB_TABLE_ID;
use crate::sink::ack::AckTracker;
use crate::sorter::{MemoryQuota, TableSorter};
use crate::upstream::feed::{Span, UpstreamEvent};

use super::emitter::{Emitter, Stats, quoted};
use super::error::PipelineError;
use super::schemas::{JobOrder, Schemas};
use super::stages::{Stage, StageMetrics, StageTimes};
use super::subscriptions::{Subscriptions, table_span};
use decode::PreparedTable;

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

#[derive(Debug)]
struct TableState {
    span: Span,
    /// Every row with commit ts at or below this was received.
    frontier: u64,
    /// Everything at or below this was released and submitted.
    emitted: u64,
    sorter: TableSorter,
}

/// One changefeed's processor.
pub struct Processor<S: Schemas> {
    settings: Settings,
    schemas: S,
    subs: Box<dyn Subscriptions>,
    emitter: Emitter,
    tracker: AckTracker,
    quota: MemoryQuota,
    tables: HashMap<i64, TableState>,
    spans: HashMap<Span, i64>,
    ddl_span: Span,
    ddl_frontier: u64,
    /// Jobs received and not yet processed, by (job row commit ts, job id).
    pending: BTreeMap<(u64, i64), (JobOrder, S::Job)>,
    seen_jobs: HashSet<i64>,
    prepared: HashMap<(i64, u64), Arc<PreparedTable>>,
    warned_keyless: HashSet<i64>,
    rows_received: u64,
    /// Busy time per stage since the last release was recorded.
    times: StageTimes,
    stage_metrics: StageMetrics,
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

impl<S: Schemas> Processor<S> {
    /// A processor over `schemas` (already at the start ts) sending through `emitter`, whose
    /// tickets are acknowledged on `tracker`; call [`Processor::start`] next.
    pub fn new(
        settings: Settings,
        schemas: S,
        subs: Box<dyn Subscriptions>,
        emitter: Emitter,
        tracker: AckTracker,
    ) -> Self {
        let quota = MemoryQuota::new(settings.memory_quota);
        let ddl_span = table_span(DDL_JOB_TABLE_ID);
        let ddl_frontier = settings.start_ts;
        let stage_metrics = StageMetrics::new(&settings.changefeed);
        Processor {
            settings,
            schemas,
            subs,
            emitter,
            tracker,
            quota,
            tables: HashMap::new(),
            spans: HashMap::new(),
            ddl_span,
            ddl_frontier,
            pending: BTreeMap::new(),
            seen_jobs: HashSet::new(),
            prepared: HashMap::new(),
            warned_keyless: HashSet::new(),
            rows_received: 0,
            times: StageTimes::default(),
            stage_metrics,
        }
    }

    /// Subscribes the DDL job stream and every table the filter selects.
    pub fn start(&mut self) {
        let start = self.settings.start_ts;
        self.tracker.register(DDL_JOB_TABLE_ID, start);
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
        let (rows_sent, ddls_sent) = self.emitter.sent();
        Stats {
            rows_sent,
            ddls_sent,
            rows_received: self.rows_received,
        }
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
        self.tracker
            .checkpoint()
            .unwrap_or(self.settings.start_ts)
            .max(self.settings.start_ts)
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
                // What this resolved ts released leaves now, batched or not.
                self.emitter.flush_batches().await
            }
        }
    }

    fn on_row(&mut self, row: KvChange) -> Result<(), PipelineError> {
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
        self.rows_received += 1;
        let started = Instant::now();
        t.sorter.push(row)?;
        self.times.add_since(Stage::Sort, started);
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
                self.tracker.resolve(DDL_JOB_TABLE_ID, self.ddl_frontier);
                return Ok(());
            };
            let below = order.finished_ts.saturating_sub(1);
            let ready = row_commit_ts <= self.ddl_frontier
                && self.tables.values().all(|t| t.emitted >= below);
            if !ready {
                self.tracker
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
        let mut txn: Vec<RowEvent> = Vec::new();
        // The table version of the chunk's rows (one transaction sees one version).
        let mut codec = TableCodec::NONE;
        let mut txn_id: Option<(u64, u64)> = None;
        loop {
            let started = Instant::now();
            let next = match self.tables.get_mut(&physical_id) {
                Some(t) => t.sorter.release_next(limit)?,
                None => None,
            };
            self.times.add_since(Stage::Sort, started);
            let Some(c) = next else { break };
            let id = (c.commit_ts, c.start_ts);
            if txn_id != Some(id) || txn.len() >= TXN_CHUNK_ROWS {
                self.send_txn(physical_id, &codec, std::mem::take(&mut txn))
                    .await?;
                txn_id = Some(id);
            }
            if self.settings.ignore_txn_start_ts.contains(&c.start_ts) {
                continue;
            }
            let started = Instant::now();
            let decoded = self.decode(physical_id, c).await?;
            self.times.add_since(Stage::Decode, started);
            if let Some((ev, prepared)) = decoded {
                if txn.is_empty() {
                    codec = prepared.codec.clone();
                }
                txn.push(ev);
            }
        }
        self.send_txn(physical_id, &codec, txn).await?;
        self.times.merge(self.emitter.take_times());
        self.stage_metrics.record(&self.times);
        self.times = StageTimes::default();
        if let Some(t) = self.tables.get_mut(&physical_id) {
            t.emitted = t.emitted.max(limit);
        }
        self.tracker.resolve(physical_id, limit);
        Ok(())
    }

    /// Sends a watermark at `ts` to every partition of every active topic (TiCDC's checkpoint
    /// event); protocols without watermarks send nothing. Call it only with a ts that is
    /// acknowledged (the checkpoint).
    pub async fn send_watermark(&mut self, ts: u64) -> Result<(), PipelineError> {
        let mut names: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for t in self.tables.keys() {
            if let Some(v) = self.schemas.table_at(*t, u64::MAX)
                && !names.iter().any(|(s, n)| *s == v.schema && *n == v.table)
            {
                names.push((Arc::clone(&v.schema), Arc::clone(&v.table)));
            }
        }
        self.emitter.send_watermark(ts, &names).await
    }

    async fn send_txn(
        &mut self,
        physical_id: i64,
        codec: &TableCodec,
        rows: Vec<RowEvent>,
    ) -> Result<(), PipelineError> {
        self.emitter
            .send_txn(
                physical_id,
                codec,
                rows,
                self.settings.output_raw_change_event,
            )
            .await
    }

    /// Forgets cached partition counts and size limits (called every checkpoint tick).
    pub fn refresh_sink_limits(&mut self) {
        self.emitter.refresh_sink_limits();
    }

    /// Waits for every message sent so far to be acknowledged.
    pub async fn flush(&mut self) -> Result<(), PipelineError> {
        self.emitter.flush().await
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
