//! The checkpoint tick of one changefeed, on its own task: every `checkpoint-interval` it
//! reads the acknowledged checkpoint, saves it when it moved (the file write and fsync on the
//! blocking pool), publishes progress to the status board and metrics, and announces the
//! saved checkpoint to the GC safepoint keeper and the sequencer (schema GC, watermarks).
//!
//! It also watches the sink ([`StallWatch`]): when the output has acknowledged nothing for
//! `sink-stall-timeout` while messages wait, the changefeed is reported `retrying` with the
//! output's last error (so `/readyz` answers 503), and `running` again at the next
//! acknowledgement. The writers themselves keep retrying; nothing is dropped.
//!
//! Guarantees: it never waits on the data path — a stalled Kafka or a table stuck behind a
//! full partition leaves the status API, `/metrics` and the checkpoint lag answering; the
//! saved checkpoint only moves forwards and is always one the output acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::checkpoint::FileStore;
use crate::sink::ack::AckTracker;
use crate::status::{ChangefeedState, StatusBoard};
use crate::upstream::feed::EventBudget;
use crate::upstream::prewrites::PrewriteStore;

use super::counters::Counters;
use super::error::PipelineError;
use super::output::Output;
use super::sequencer::checkpoint;
use super::stall::{SinkSample, StallWatch};

/// What the tick reads and where it reports.
#[derive(Debug)]
pub struct Tick {
    pub changefeed: String,
    pub store: FileStore,
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
}

impl Tick {
    /// Runs every `interval` until a save fails.
    pub async fn run(self, interval: Duration) -> Result<(), PipelineError> {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut saved_ts = *self.saved.borrow();
        let mut last_rate = (Instant::now(), self.counters.stats().rows_sent);
        let mut stall = StallReport::default();
        loop {
            tick.tick().await;
            let cp = checkpoint(&self.tracker, self.start_ts);
            if cp > saved_ts {
                saved_ts = save(&self.store, &self.changefeed, cp).await?;
                let _ = self.saved.send(saved_ts);
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
            stall.report(&self, stalled, health);
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

/// What the tick last told the status board about a stalled sink.
#[derive(Debug, Default)]
struct StallReport {
    watch: StallWatch,
    /// The tick moved the changefeed to `retrying` for a stall.
    reported: bool,
}

impl StallReport {
    /// Moves the changefeed between `running` and `retrying` as the sink stalls and
    /// recovers; leaves every other state (starting, stopping, failed) to its owner.
    fn report(&mut self, tick: &Tick, stalled: Duration, health: Option<String>) {
        let id = tick.changefeed.as_str();
        let state = tick.status.state(id);
        if stalled >= tick.stall_timeout && stalled > Duration::ZERO {
            let running = state == Some(ChangefeedState::Running);
            let ours = self.reported && state == Some(ChangefeedState::Retrying);
            if !(running || ours) {
                return;
            }
            let reason = format!(
                "Kafka has acknowledged nothing and the checkpoint has not moved for {}s while changes wait to be written (sink-stall-timeout {:?}){}; check that the Kafka brokers are up, reachable and not overloaded; the writers keep retrying and replication resumes by itself when Kafka answers",
                stalled.as_secs(),
                tick.stall_timeout,
                health
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            );
            if !self.reported {
                tracing::warn!(
                    changefeed = id,
                    stalled_seconds = stalled.as_secs(),
                    "{reason}"
                );
            }
            tick.status
                .set_state(id, ChangefeedState::Retrying, Some(reason));
            self.reported = true;
        } else if self.reported {
            self.reported = false;
            if state == Some(ChangefeedState::Retrying) {
                tracing::info!(changefeed = id, "the sink acknowledges again; running");
                tick.status.set_state(id, ChangefeedState::Running, None);
            }
        }
    }
}

/// Saves `ts` as `changefeed`'s checkpoint on the blocking pool; returns what is stored.
pub async fn save(store: &FileStore, changefeed: &str, ts: u64) -> Result<u64, PipelineError> {
    let (store, id) = (store.clone(), changefeed.to_string());
    tokio::task::spawn_blocking(move || store.save(&id, ts))
        .await
        .map_err(|e| PipelineError::Task(format!("the checkpoint save failed: {e}")))?
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
