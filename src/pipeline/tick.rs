//! The checkpoint tick of one changefeed, on its own task: every `checkpoint-interval` it
//! reads the acknowledged checkpoint, saves it when it moved (the file write and fsync on the
//! blocking pool), publishes progress to the status board and metrics, and announces the
//! saved checkpoint to the GC safepoint keeper and the sequencer (schema GC, watermarks).
//!
//! It also watches the sink ([`StallWatch`]): when Kafka has acknowledged nothing and the
//! checkpoint has not moved for `sink-stall-timeout` while changes wait, it raises a `kafka`
//! fault with the output's last error (the changefeed shows `retrying`, `/readyz` answers
//! 503), cleared at the next progress. The writers themselves keep retrying; nothing is
//! dropped.
//!
//! Guarantees: it never waits on the data path — a stalled Kafka or a table stuck behind a
//! full partition leaves the status API, `/metrics` and the checkpoint lag answering; the
//! saved checkpoint only moves forwards and is always one the output acknowledged.
//!
//! A save that fails (read-only or full state directory, a damaged file) does not stop
//! replication, because nothing depends on it being recent: the previous file stays valid
//! (saves are atomic), the GC safepoint keeper and watermarks only ever see the checkpoint
//! last saved, and a restart resumes from that one and sends the rows after it again
//! (at-least-once). The tick raises a `checkpoint` fault instead (status `retrying` with the
//! file and what to do, `/readyz` false, `tidb_changefeed_checkpoint_save_errors_total`) and
//! retries with a backoff from `checkpoint-interval` doubling to 30 s; the first save that
//! succeeds clears it.
//!
//! Under claim-check, when the oldest claim-check object has waited to be stored for
//! `sink-stall-timeout` (the storage fails or does not answer; the writer keeps retrying),
//! it raises a `claim-check` fault naming the storage (secrets masked) and the last error,
//! cleared once the objects are stored; while it is raised the `kafka` stall fault is not,
//! since Kafka is only waiting for the storage.
//!
//! Each tick also reports the upstream failures that have been retried for longer than
//! `[upstream] fault-report-after` (PD, a store, regions with a hole) as faults, and clears
//! those that recovered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::checkpoint::Store;
use crate::sink::ack::AckTracker;
use crate::sink::claim_check::ClaimCheckWriter;
use crate::status::{Fault, StatusBoard};
use crate::upstream::feed::EventBudget;
use crate::upstream::health::UpstreamHealth;
use crate::upstream::prewrites::PrewriteStore;

use super::counters::Counters;
use super::error::PipelineError;
use super::output::Output;
use super::sequencer::checkpoint;
use super::stall::{SinkSample, StallWatch};

/// The status group of the tick's faults.
const FAULT_GROUP: &str = "checkpoint";
/// The status group of the upstream faults the tick reports.
const UPSTREAM_GROUP: &str = "upstream";
/// The longest wait between two attempts to save while saves fail.
const MAX_SAVE_BACKOFF: Duration = Duration::from_secs(30);

/// What the tick reads and where it reports.
#[derive(Debug)]
pub struct Tick {
    pub changefeed: String,
    pub store: Store,
    pub status: StatusBoard,
    pub tracker: AckTracker,
    pub start_ts: u64,
    /// The resolved ts the sequencer publishes.
    pub resolved: Arc<AtomicU64>,
    pub counters: Counters,
    pub output: Arc<dyn Output>,
    /// The saved checkpoint, for the GC keeper and the sequencer.
    pub saved: watch::Sender<u64>,
    /// The feed's prewrite values, rows in flight to the sequencer and raw store-stream
    /// messages, for the memory gauges.
    pub prewrites: PrewriteStore,
    pub events: EventBudget,
    pub streams: EventBudget,
    /// `sink-stall-timeout`: how long the output may acknowledge nothing while messages
    /// wait before the changefeed is reported `retrying`.
    pub stall_timeout: Duration,
    /// Upstream failures being retried: reported as faults once past the threshold.
    pub health: UpstreamHealth,
    /// `[upstream] fault-report-after`: how long an upstream failure is retried before it
    /// is reported.
    pub fault_report_after: Duration,
    /// The claim-check writer, under claim-check: its stalls are reported as faults.
    pub claim_check: Option<ClaimCheckWriter>,
}

impl Tick {
    /// Runs every `interval`; it only returns when its task is aborted.
    pub async fn run(self, interval: Duration) -> Result<(), PipelineError> {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut saved_ts = *self.saved.borrow();
        let mut last_rate = (Instant::now(), self.counters.stats().rows_sent);
        let mut stall = StallReport::default();
        let mut failing: Option<SaveFailure> = None;
        loop {
            tick.tick().await;
            let cp = checkpoint(&self.tracker, self.start_ts);
            if cp > saved_ts
                && failing
                    .as_ref()
                    .is_none_or(|f| f.retry_at <= Instant::now())
            {
                match save(&self.store, &self.changefeed, cp).await {
                    Ok(s) => {
                        saved_ts = s;
                        let _ = self.saved.send(saved_ts);
                        if failing.take().is_some() {
                            tracing::info!(checkpoint_ts = saved_ts, "checkpoint saved again");
                            self.status
                                .set_faults(&self.changefeed, FAULT_GROUP, Vec::new());
                        }
                    }
                    // The lease may be another daemon's: stop rather than retry.
                    Err(e) if e.is_fenced() => return Err(e),
                    Err(e) => {
                        failing = Some(self.save_failed(failing, &e, interval, saved_ts));
                    }
                }
            }
            publish(
                &self.status,
                &self.changefeed,
                saved_ts,
                // Everything acknowledged was received: the resolved ts the sequencer last
                // published may lag behind the checkpoint just read, never the truth.
                self.resolved.load(Ordering::Relaxed).max(cp),
            );
            let sent = self.counters.stats().rows_sent;
            let secs = last_rate.0.elapsed().as_secs_f64();
            if secs > 0.0 {
                self.status
                    .set_rate(&self.changefeed, (sent - last_rate.1) as f64 / secs);
            }
            last_rate = (Instant::now(), sent);
            let upstream = self
                .health
                .escalated(self.fault_report_after)
                .into_iter()
                .map(|e| Fault::new(UPSTREAM_GROUP, e.component, e.error, e.action, e.since_ms))
                .collect();
            self.status
                .set_faults(&self.changefeed, UPSTREAM_GROUP, upstream);
            let health = self.output.health();
            if let Some(e) = &health {
                self.status.set_error(&self.changefeed, e.clone());
            }
            let received = self.resolved.load(Ordering::Relaxed);
            let sample = SinkSample {
                acked: self.tracker.acked_total(),
                checkpoint: cp,
                waiting: received > cp
                    || self.output.queued_bytes() > 0
                    || self.tracker.in_flight() > 0,
            };
            let stalled = stall.watch.observe(sample, Instant::now());
            ::metrics::gauge!(crate::metrics::SINK_STALL_SECONDS, "changefeed" => self.changefeed.clone())
                .set(stalled.as_secs_f64());
            let storage_stalled = report_claim_check(&self, &mut stall);
            stall.report(
                &self,
                if storage_stalled {
                    Duration::ZERO
                } else {
                    stalled
                },
                health,
            );
            ::metrics::gauge!(crate::metrics::MEMORY_USED_BYTES, "changefeed" => self.changefeed.clone(), "part" => "prewrites")
                .set(self.prewrites.in_memory() as f64);
            ::metrics::gauge!(crate::metrics::MEMORY_USED_BYTES, "changefeed" => self.changefeed.clone(), "part" => "events")
                .set(self.events.used() as f64);
            ::metrics::gauge!(crate::metrics::MEMORY_USED_BYTES, "changefeed" => self.changefeed.clone(), "part" => "streams")
                .set(self.streams.used() as f64);
            ::metrics::gauge!(crate::metrics::PREWRITES_SPILLED, "changefeed" => self.changefeed.clone())
                .set(self.prewrites.spilled() as f64);
        }
    }
}

/// The status group of the sink-stall fault.
const SINK_GROUP: &str = "sink";

/// What the tick last told the status board about a stalled sink.
#[derive(Debug, Default)]
struct StallReport {
    watch: StallWatch,
    /// The tick raised the `kafka` fault.
    reported: bool,
    /// The tick raised the `claim-check` fault.
    storage_reported: bool,
}

impl StallReport {
    /// Raises the `kafka` fault (the changefeed shows `retrying`, `/readyz` 503) once the
    /// sink has been stalled for `sink-stall-timeout`, and clears it when it moves again.
    fn report(&mut self, tick: &Tick, stalled: Duration, health: Option<String>) {
        let id = tick.changefeed.as_str();
        if stalled >= tick.stall_timeout && stalled > Duration::ZERO {
            let error = format!(
                "Kafka has acknowledged nothing and the checkpoint has not moved for {}s while changes wait to be written (sink-stall-timeout {:?}){}",
                stalled.as_secs(),
                tick.stall_timeout,
                health
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            );
            let action = "check that the Kafka brokers are up, reachable and not overloaded; the writers keep retrying and replication resumes by itself when Kafka answers";
            if !self.reported {
                tracing::warn!(
                    changefeed = id,
                    stalled_seconds = stalled.as_secs(),
                    "{error}; {action}"
                );
            }
            let since_ms = chrono::Utc::now().timestamp_millis()
                - i64::try_from(stalled.as_millis()).unwrap_or(i64::MAX);
            tick.status.set_faults(
                id,
                SINK_GROUP,
                vec![Fault::new(SINK_GROUP, "kafka", error, action, since_ms)],
            );
            self.reported = true;
        } else if self.reported {
            self.reported = false;
            tracing::info!(changefeed = id, "Kafka acknowledges again");
            tick.status.set_faults(id, SINK_GROUP, Vec::new());
        }
    }
}

/// The status group of the claim-check storage fault.
const CLAIM_CHECK_GROUP: &str = "claim-check";

/// Raises the `claim-check` fault while the oldest object has waited to be stored for
/// `sink-stall-timeout`, clears it when none waits that long; returns whether it is raised.
fn report_claim_check(tick: &Tick, report: &mut StallReport) -> bool {
    let Some(writer) = &tick.claim_check else {
        return false;
    };
    let id = tick.changefeed.as_str();
    match writer.stall().filter(|s| s.waiting >= tick.stall_timeout) {
        Some(s) => {
            let error = format!(
                "a claim-check object has waited {}s to be stored in {} (sink-stall-timeout {:?}): {}",
                s.waiting.as_secs(),
                s.storage,
                tick.stall_timeout,
                s.last_error
                    .unwrap_or_else(|| "the storage has not answered yet".to_string())
            );
            let action = "check that the storage is up and reachable, the bucket exists and the credentials may write objects; the writer keeps retrying, rows wait (none is dropped) and the checkpoint stays before them";
            if !report.storage_reported {
                tracing::warn!(changefeed = id, "{error}; {action}");
            }
            let since_ms = chrono::Utc::now().timestamp_millis()
                - i64::try_from(s.waiting.as_millis()).unwrap_or(i64::MAX);
            tick.status.set_faults(
                id,
                CLAIM_CHECK_GROUP,
                vec![Fault::new(
                    CLAIM_CHECK_GROUP,
                    "claim-check storage",
                    error,
                    action,
                    since_ms,
                )],
            );
            report.storage_reported = true;
            true
        }
        None => {
            if report.storage_reported {
                report.storage_reported = false;
                tracing::info!(changefeed = id, "claim-check objects are stored again");
                tick.status.set_faults(id, CLAIM_CHECK_GROUP, Vec::new());
            }
            false
        }
    }
}

/// A run of failed saves.
#[derive(Debug)]
struct SaveFailure {
    since_ms: i64,
    backoff: Duration,
    retry_at: Instant,
}

impl Tick {
    /// Records a failed save: metric, fault, a log line, and when to try again.
    fn save_failed(
        &self,
        before: Option<SaveFailure>,
        e: &PipelineError,
        interval: Duration,
        saved_ts: u64,
    ) -> SaveFailure {
        ::metrics::counter!(crate::metrics::CHECKPOINT_SAVE_ERRORS_TOTAL, "changefeed" => self.changefeed.clone())
            .increment(1);
        let backoff = before
            .as_ref()
            .map_or(interval, |f| (f.backoff * 2).min(MAX_SAVE_BACKOFF))
            .max(interval);
        let since_ms = before
            .as_ref()
            .map_or_else(|| chrono::Utc::now().timestamp_millis(), |f| f.since_ms);
        tracing::warn!(error = %e, retry_in = ?backoff, saved_checkpoint_ts = saved_ts,
            "cannot save the checkpoint; replication goes on and the last saved checkpoint stays valid");
        self.status.set_faults(
            &self.changefeed,
            FAULT_GROUP,
            vec![Fault::new(
                FAULT_GROUP,
                "checkpoint",
                e.to_string(),
                format!(
                    "replication goes on; the saved checkpoint {saved_ts} stays valid and a restart resumes from it, sending the rows after it again; the save is retried every {}s at most",
                    MAX_SAVE_BACKOFF.as_secs()
                ),
                since_ms,
            )],
        );
        SaveFailure {
            since_ms,
            backoff,
            retry_at: Instant::now() + backoff,
        }
    }
}

/// Saves `ts` as `changefeed`'s checkpoint; returns what is stored.
pub async fn save(store: &Store, changefeed: &str, ts: u64) -> Result<u64, PipelineError> {
    store
        .save(changefeed, ts)
        .await
        .map_err(PipelineError::from)
}

/// Publishes progress to the status board and metrics.
pub fn publish(status: &StatusBoard, id: &str, checkpoint: u64, resolved: u64) {
    use crate::metrics as m;
    status.set_progress(id, checkpoint, resolved);
    let now = now_secs();
    let cp = (checkpoint >> 18) as f64 / 1000.0;
    let rs = (resolved >> 18) as f64 / 1000.0;
    let label = id.to_string();
    ::metrics::gauge!(m::CHECKPOINT_TIMESTAMP_SECONDS, "changefeed" => label.clone()).set(cp);
    ::metrics::gauge!(m::CHECKPOINT_LAG_SECONDS, "changefeed" => label.clone())
        .set((now - cp).max(0.0));
    ::metrics::gauge!(m::RESOLVED_TIMESTAMP_SECONDS, "changefeed" => label.clone()).set(rs);
    ::metrics::gauge!(m::RESOLVED_LAG_SECONDS, "changefeed" => label).set((now - rs).max(0.0));
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
