//! The sequencer of one changefeed: upstream events in, an ordered stream of jobs and
//! markers out, in the order and with the progress guarantees TiCDC's Kafka sink gives.
//!
//! Owns, per replicated physical table, its span frontier and its [`TableSorter`], plus the
//! DDL job stream's frontier and the DDL jobs waiting for their turn; the table registry
//! ([`tables`]); the prepared state of each table version ([`prepare`]: row decoder, column
//! selection, what the encoder registered) and each table's topic, partition count and size
//! limit. Released rows are cut into [`Job`]s of whole transactions of one table version (up
//! to [`JOB_ROWS`] rows or [`JOB_BYTES`], a transaction larger than [`TXN_CHUNK_ROWS`] rows
//! or [`TXN_CHUNK_BYTES`] in chunks), started on
//! the [`Workers`] and queued, in order, as [`Step::Rows`] to the emitter, followed by the
//! table's [`Step::Resolved`]; DDLs and watermarks travel in the same stream.
//!
//! Guarantees:
//! * a table's rows are released in commit order and only up to
//!   `min(table frontier, DDL frontier, next pending DDL's finished ts - 1)`, so a row is
//!   always decoded with every DDL before it applied and never overtakes a DDL message;
//! * a DDL (ordered by its job row's commit ts, applied at its finished ts) is processed only
//!   when every table has released everything below its finished ts; its messages are sent
//!   once everything before them is acknowledged, and acknowledged before any later row is
//!   released; afterwards the subscriptions match the schema (every physical table of every
//!   selected table is subscribed, new ones from the DDL's finished ts; dropped,
//!   truncated-away or renamed-out ones are unsubscribed);
//! * progress: each table's [`AckTracker`] bound moves (through the emitter) only after
//!   everything at or below it was submitted; the checkpoint is the least bound over tables
//!   and the DDL stream;
//! * a row that cannot be decoded or encoded stops the changefeed with the table, key and
//!   reason (the emitter stops at its job); nothing after it is acknowledged past it;
//! * waiting is back-pressure: a full worker group or emitter stream stops the sequencer,
//!   and with it the upstream streams, never the checkpoint tick or the status API.

mod ddl;
mod prepare;
mod tables;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::event::KvChange;
use crate::filter::{ColumnSelectors, EventFilters, TableFilter};
use crate::mount::TimeZone;
use crate::mount::key::decode_record_key;
use crate::schema::DDL_JOB_TABLE_ID;
use crate::sink::ack::AckTracker;
use crate::sink::kafka::SizeLimit;
use crate::sorter::{MemoryQuota, TableSorter};
use crate::upstream::feed::{EventBudget, Span, UpstreamEvent};

use super::counters::Counters;
use super::emitter::Step;
use super::error::PipelineError;
use super::output::Output;
use super::schemas::{JobOrder, Schemas};
use super::stages::{Stage, StageMetrics, StageTimes};
use super::subscriptions::{Subscriptions, table_span};
use super::worker::{Job, PreparedTable, Workers, quoted};

/// Rows of one transaction buffered for TiCDC's split-and-sort before they are sent; a larger
/// transaction is handled in chunks of this many rows.
pub const TXN_CHUNK_ROWS: usize = 4096;
/// A transaction's chunk also ends at this many bytes of raw changes (wide rows), so a job's
/// memory stays bounded whatever the row size.
pub const TXN_CHUNK_BYTES: usize = 4 << 20;
/// A job is closed at the first transaction boundary at or after this many rows...
pub const JOB_ROWS: usize = 512;
/// ...or this many bytes of raw changes.
pub const JOB_BYTES: usize = 4 << 20;
/// How often at most the resolved ts is recomputed for the status (it costs a pass over the
/// tables).
const PUBLISH_RESOLVED_EVERY: Duration = Duration::from_millis(50);
/// Upstream events taken off the feed's channel at once.
const EVENT_BATCH: usize = 256;

/// The sequencer's settings, from the changefeed configuration.
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

/// Where the sequencer's work goes: the worker group and the emitter's stream, plus the
/// output it asks for partition counts and size limits.
#[derive(Debug)]
pub struct Downstream {
    pub workers: Workers,
    pub steps: mpsc::Sender<Step>,
    pub output: Arc<dyn Output>,
    pub counters: Counters,
}

#[derive(Debug)]
struct TableState {
    span: Span,
    /// Every row with commit ts at or below this was received.
    frontier: u64,
    /// Everything at or below this was released and queued to the emitter.
    emitted: u64,
    sorter: TableSorter,
}

/// The job being filled by a release.
#[derive(Debug, Default)]
struct OpenJob {
    job: Option<Job>,
    /// The transaction being read: (commit ts, start ts), rows read of it so far, and whether
    /// `ignore-txn-start-ts` drops it.
    txn: Option<(u64, u64)>,
    txn_rows: usize,
    txn_bytes: usize,
    /// Bytes of raw changes in `job`.
    job_bytes: usize,
    skip: bool,
}

/// One changefeed's sequencer.
pub struct Sequencer<S: Schemas> {
    settings: Settings,
    schemas: S,
    subs: Box<dyn Subscriptions>,
    down: Downstream,
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
    /// Topic of each table's rows (cleared by DDLs: renames move tables).
    topics: HashMap<(Arc<str>, Arc<str>), Arc<str>>,
    /// Partition count and message size limit per topic (cleared every refresh so added
    /// partitions and changed limits are picked up).
    sink_limits: HashMap<Arc<str>, (i32, SizeLimit)>,
    warned_keyless: HashSet<i64>,
    /// Sorter time since the last release was recorded.
    times: StageTimes,
    stage_metrics: StageMetrics,
}

impl<S: Schemas> std::fmt::Debug for Sequencer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer")
            .field("changefeed", &self.settings.changefeed)
            .field("tables", &self.tables.len())
            .field("ddl_frontier", &self.ddl_frontier)
            .field("pending_ddls", &self.pending.len())
            .finish()
    }
}

impl<S: Schemas> Sequencer<S> {
    /// A sequencer over `schemas` (already at the start ts) handing its work to `down`, whose
    /// tickets are acknowledged on `tracker`; call [`Sequencer::start`] next.
    pub fn new(
        settings: Settings,
        schemas: S,
        subs: Box<dyn Subscriptions>,
        down: Downstream,
        tracker: AckTracker,
    ) -> Self {
        let quota = MemoryQuota::new(settings.memory_quota);
        let ddl_span = table_span(DDL_JOB_TABLE_ID);
        let ddl_frontier = settings.start_ts;
        let stage_metrics = StageMetrics::new(&settings.changefeed);
        Sequencer {
            settings,
            schemas,
            subs,
            down,
            tracker,
            quota,
            tables: HashMap::new(),
            spans: HashMap::new(),
            ddl_span,
            ddl_frontier,
            pending: BTreeMap::new(),
            seen_jobs: HashSet::new(),
            prepared: HashMap::new(),
            topics: HashMap::new(),
            sink_limits: HashMap::new(),
            warned_keyless: HashSet::new(),
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
        checkpoint(&self.tracker, self.settings.start_ts)
    }

    /// Bytes of held changes in memory, over all tables.
    pub fn sorter_memory(&self) -> usize {
        self.quota.used()
    }

    /// Runs the sequencer until `events` ends or an error: handles upstream events; at each
    /// new saved checkpoint (from `checkpoints`) lets the schema tracker forget older
    /// versions and sends a watermark; publishes the resolved ts into `resolved` (at most
    /// every 50 ms); every `refresh` forgets cached partition counts and size limits.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<UpstreamEvent>,
        budget: EventBudget,
        mut checkpoints: watch::Receiver<u64>,
        resolved: Arc<AtomicU64>,
        refresh: Duration,
    ) -> Result<(), PipelineError> {
        let mut tick = tokio::time::interval(refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watching = true;
        let mut published = Instant::now();
        let mut released = budget.releaser();
        let mut batch = Vec::with_capacity(EVENT_BATCH);
        loop {
            tokio::select! {
                biased;
                changed = checkpoints.changed(), if watching => {
                    if changed.is_err() {
                        watching = false;
                        continue;
                    }
                    let cp = *checkpoints.borrow_and_update();
                    self.schemas.gc(cp);
                    self.send_watermark(cp).await?;
                }
                _ = tick.tick() => {
                    resolved.store(self.resolved_ts(), Ordering::Relaxed);
                    self.sink_limits.clear();
                    self.report_memory();
                }
                n = events.recv_many(&mut batch, EVENT_BATCH) => {
                    if n == 0 {
                        return Err(PipelineError::FeedEnded);
                    }
                    // Sorter pushes count as `sort` busy time, timed per batch.
                    let mut since = Instant::now();
                    for ev in batch.drain(..) {
                        let UpstreamEvent::Row(row) = ev else {
                            // Given back before this task could wait (for the emitter).
                            released.flush();
                            self.times.add_since(Stage::Sort, since);
                            let moved = matches!(ev, UpstreamEvent::Resolved { .. });
                            self.handle(ev).await?;
                            if moved && published.elapsed() >= PUBLISH_RESOLVED_EVERY {
                                resolved.store(self.resolved_ts(), Ordering::Relaxed);
                                published = Instant::now();
                            }
                            since = Instant::now();
                            continue;
                        };
                        released.add(row.size());
                        self.on_row(row)?;
                    }
                    self.times.add_since(Stage::Sort, since);
                    // Given back before this task could wait for the feed again.
                    released.flush();
                }
            }
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

    /// Waits until everything handed on so far is sent and acknowledged.
    pub async fn settle(&self) -> Result<(), PipelineError> {
        let (done, wait) = oneshot::channel();
        self.send(Step::Flush(done)).await?;
        wait.await.map_err(|_| PipelineError::EmitterStopped)
    }

    async fn send(&self, step: Step) -> Result<(), PipelineError> {
        self.down
            .steps
            .send(step)
            .await
            .map_err(|_| PipelineError::EmitterStopped)
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
        self.down.counters.add_row_received();
        t.sorter.push(row)?;
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

    /// Releases `physical_id`'s rows up to `limit` into jobs, then marks the table resolved
    /// at `limit` in the emitter's stream.
    async fn release(&mut self, physical_id: i64, limit: u64) -> Result<(), PipelineError> {
        let mut open = OpenJob::default();
        // Sequencer work counts as `sort` busy time; the clock is read around the awaits
        // (once per transaction), not per row.
        let mut since = Instant::now();
        loop {
            let next = match self.tables.get_mut(&physical_id) {
                Some(t) => t.sorter.release_next(limit)?,
                None => None,
            };
            let Some(c) = next else { break };
            let id = (c.commit_ts, c.start_ts);
            if open.txn != Some(id)
                || open.txn_rows >= TXN_CHUNK_ROWS
                || open.txn_bytes >= TXN_CHUNK_BYTES
            {
                close_txn(&mut open);
                open.txn = Some(id);
                open.txn_rows = 0;
                open.txn_bytes = 0;
                open.skip = self.settings.ignore_txn_start_ts.contains(&c.start_ts);
                if !open.skip {
                    self.times.add_since(Stage::Sort, since);
                    // One transaction sees one table version.
                    let table = self
                        .prepared(physical_id, c.commit_ts.saturating_sub(1), &c.key)
                        .await?;
                    let full = open.job_bytes >= JOB_BYTES;
                    let cut = open.job.as_ref().is_some_and(|j| {
                        full || j.len() >= JOB_ROWS || !Arc::ptr_eq(&j.table, &table)
                    });
                    if cut && let Some(job) = open.job.take() {
                        self.dispatch(job).await?;
                    }
                    if open.job.is_none() {
                        open.job = Some(self.new_job(physical_id, table).await?);
                        open.job_bytes = 0;
                    }
                    since = Instant::now();
                }
            }
            open.txn_rows += 1;
            open.txn_bytes += c.size();
            if !open.skip
                && let Some(job) = open.job.as_mut()
            {
                open.job_bytes += c.size();
                job.changes.push(c);
            }
        }
        self.times.add_since(Stage::Sort, since);
        close_txn(&mut open);
        if let Some(job) = open.job.take() {
            self.dispatch(job).await?;
        }
        self.stage_metrics.record(&self.times);
        self.times = StageTimes::default();
        self.send(Step::Resolved {
            physical_id,
            ts: limit,
        })
        .await?;
        if let Some(t) = self.tables.get_mut(&physical_id) {
            t.emitted = t.emitted.max(limit);
        }
        Ok(())
    }

    /// An empty job for `table`'s rows, with its topic, partition count and size limit.
    async fn new_job(
        &mut self,
        physical_id: i64,
        table: Arc<PreparedTable>,
    ) -> Result<Job, PipelineError> {
        let topic = self.topic(&table);
        let (partitions, limit) = self.limits(&topic).await?;
        Ok(Job {
            physical_id,
            table,
            topic,
            partitions,
            limit,
            changes: Vec::new(),
            txn_ends: Vec::new(),
        })
    }

    /// Starts a job on a worker and queues its result in the emitter's stream.
    async fn dispatch(&mut self, job: Job) -> Result<(), PipelineError> {
        if job.is_empty() {
            return Ok(());
        }
        let handle = self.down.workers.start(job).await;
        self.send(Step::Rows(handle)).await
    }

    /// The topic of a table's rows, computed once per table.
    fn topic(&mut self, table: &PreparedTable) -> Arc<str> {
        let key = (
            Arc::clone(&table.view.schema),
            Arc::clone(&table.view.table),
        );
        if let Some(t) = self.topics.get(&key) {
            return Arc::clone(t);
        }
        let t: Arc<str> = Arc::from(
            self.down
                .workers
                .context()
                .router
                .topic_for_table(&key.0, &key.1),
        );
        self.topics.insert(key, Arc::clone(&t));
        t
    }

    /// Partition count and size limit of `topic`, asked from the output once per refresh.
    async fn limits(&mut self, topic: &Arc<str>) -> Result<(i32, SizeLimit), PipelineError> {
        if let Some(l) = self.sink_limits.get(topic) {
            return Ok(*l);
        }
        let l = (
            self.down.output.partitions(topic).await?,
            self.down.output.size_limit(topic).await?,
        );
        self.sink_limits.insert(Arc::clone(topic), l);
        Ok(l)
    }

    /// Forgets cached partition counts and size limits.
    pub fn refresh_sink_limits(&mut self) {
        self.sink_limits.clear();
    }

    /// Sends a watermark at `ts` to every partition of every active topic (TiCDC's checkpoint
    /// event); protocols without watermarks send nothing. Call it only with a ts that is
    /// acknowledged (the checkpoint).
    pub async fn send_watermark(&mut self, ts: u64) -> Result<(), PipelineError> {
        let mut tables: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for t in self.tables.keys() {
            if let Some(v) = self.schemas.table_at(*t, u64::MAX)
                && !tables.iter().any(|(s, n)| *s == v.schema && *n == v.table)
            {
                tables.push((Arc::clone(&v.schema), Arc::clone(&v.table)));
            }
        }
        self.send(Step::Watermark { ts, tables }).await
    }

    /// Publishes the memory held by the sorter, the jobs and the output's queues.
    fn report_memory(&self) {
        use crate::metrics as m;
        let id = self.settings.changefeed.clone();
        let sorter = self.quota.used() as f64;
        ::metrics::gauge!(m::SORTER_MEMORY_BYTES, "changefeed" => id.clone()).set(sorter);
        ::metrics::gauge!(m::MEMORY_USED_BYTES, "changefeed" => id.clone(), "part" => "sorter")
            .set(sorter);
        ::metrics::gauge!(m::MEMORY_USED_BYTES, "changefeed" => id.clone(), "part" => "jobs")
            .set(self.down.workers.memory_used() as f64);
        ::metrics::gauge!(m::MEMORY_USED_BYTES, "changefeed" => id, "part" => "produce")
            .set(self.down.output.queued_bytes() as f64);
    }

    /// Lets the schema tracker forget versions below the checkpoint.
    pub fn gc_schemas(&mut self, checkpoint: u64) {
        self.schemas.gc(checkpoint);
    }
}

/// Ends the transaction being read in the open job.
fn close_txn(open: &mut OpenJob) {
    if let Some(job) = open.job.as_mut()
        && job.txn_ends.last().copied().unwrap_or(0) < job.changes.len()
    {
        job.txn_ends.push(job.changes.len());
    }
}

/// The changefeed checkpoint from `tracker`: everything at or below it is acknowledged,
/// never below `start_ts`.
pub fn checkpoint(tracker: &AckTracker, start_ts: u64) -> u64 {
    tracker.checkpoint().unwrap_or(start_ts).max(start_ts)
}
