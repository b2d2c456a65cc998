//! The feed task: one loop that takes, in this priority, the consumer going away, commands
//! (add or remove a span), its own delayed retries, and the store streams' messages; and
//! that dispatches each stream event to the registration it belongs to — entries to the
//! region's matcher, resolved ts to the span's frontier, errors to the region lifecycle.
//!
//! Guarantees (the output contract of [`super`]): a row goes out only when its
//! `commit_ts` is above its span's `start_ts`; a span's resolved ts goes out only when its
//! frontier advances, after every row the stream sent before it; resolved ts of regions
//! whose incremental scan has not finished are held back; nothing is sent for a span
//! after its removal is processed; sending waits while the output channel is full, and the
//! loop ends (Ok) when the consumer or every [`super::Feed`] handle is gone. A store-stream
//! message's bytes go back to the streams' budget once it is handled, whatever the outcome
//! (rows sent, an error, the consumer gone), so the readers never wait on a message the
//! loop has finished with. On each stale-lock check tick it hands the regions held back
//! (resolved ts lagging the wall clock by more than the threshold, or not initialized
//! within it) to the lock resolver's task with `try_send`: it never waits for it.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::budget::EventBudget;
use super::errors::{classify, error_kind};
use super::registrations::{RegionKey, Registrations};
use super::spans::Spans;
use super::store_stream::{StreamKey, StreamMsg, Streams};
use super::store_waits::StoreWaits;
use super::{Span, UpstreamEvent};
use crate::metrics as m;
use crate::proto::cdcpb::{self, ChangeDataEvent, event};
use crate::proto::metapb;
use crate::upstream::error::UpstreamError;
use crate::upstream::health::{Component, UpstreamHealth};
use crate::upstream::locks::{self, ResolveTask};
use crate::upstream::matcher::MatchError;
use crate::upstream::pd::PdClient;
use crate::upstream::prewrites::PrewriteStore;

/// What a [`super::Feed`] handle asks of the task.
pub(super) enum Command {
    Add(Span, u64),
    Remove(Span),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Add(s, ts) => write!(f, "Add({s:?}, {ts})"),
            Command::Remove(s) => write!(f, "Remove({s:?})"),
        }
    }
}

/// Control messages the feed sends itself (retries after a delay).
pub(super) enum Ctl {
    /// Span id, region, resolved ts.
    RetryRegion(u64, metapb::Region, u64),
    /// Span id, encoded range, resolved ts.
    Relocate(u64, Vec<u8>, Vec<u8>, u64),
}

pub(super) struct Driver {
    pub pd: PdClient,
    pub out: mpsc::Sender<UpstreamEvent>,
    ctl_tx: mpsc::UnboundedSender<Ctl>,
    pub spans: Spans,
    pub regions: Registrations,
    pub streams: Streams,
    counters: EventCounters,
    /// Shared by every region's matcher.
    pub prewrites: PrewriteStore,
    /// Taken per row sent, given back by the consumer.
    events: EventBudget,
    /// PD, store and region-scan failures being retried.
    pub health: UpstreamHealth,
    /// The ranges waiting on a failing store.
    pub waits: StoreWaits,
    /// Regions held back by locks go there (the lock resolver's task).
    locks: mpsc::Sender<ResolveTask>,
    stale_lock_threshold: Duration,
}

/// The memory budgets of a feed.
pub(super) struct Budgets {
    pub prewrites: PrewriteStore,
    pub events: EventBudget,
    pub streams: EventBudget,
}

/// The per-entry counters, registered once (registering per entry hashes the labels).
struct EventCounters {
    /// `events_total` per `LogType` value (0..=5); unknown types count as `unknown`.
    by_type: [metrics::Counter; 6],
    bytes: metrics::Counter,
}

impl EventCounters {
    fn new() -> Self {
        let by_type = [0, 1, 2, 3, 4, 5].map(|t| {
            let name = event::LogType::try_from(t).map_or("unknown", |t| t.as_str_name());
            metrics::counter!(m::UPSTREAM_EVENTS_TOTAL, "type" => name.to_ascii_lowercase())
        });
        EventCounters {
            by_type,
            bytes: metrics::counter!(m::UPSTREAM_RECEIVED_BYTES_TOTAL),
        }
    }

    fn count(&self, log_type: i32, bytes: usize) {
        let i = usize::try_from(log_type)
            .ok()
            .filter(|&i| i < 6)
            .unwrap_or(0);
        self.by_type[i].increment(1);
        self.bytes.increment(bytes as u64);
    }
}

/// Starts the feed task on `pd`, sending to `out` and taking commands from `cmd_rx`.
pub(super) fn spawn(
    pd: PdClient,
    out: mpsc::Sender<UpstreamEvent>,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    budgets: Budgets,
    health: UpstreamHealth,
    stale_lock_threshold: Duration,
) -> JoinHandle<Result<(), UpstreamError>> {
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let (streams, ev_rx) = Streams::new(budgets.streams);
    // The resolver ends when the driver (the only sender) is dropped.
    let (locks, _resolver) = locks::spawn(pd.clone(), stale_lock_threshold);
    let driver = Driver {
        pd,
        out,
        ctl_tx,
        spans: Spans::new(),
        regions: Registrations::new(),
        streams,
        counters: EventCounters::new(),
        prewrites: budgets.prewrites,
        events: budgets.events,
        health,
        waits: StoreWaits::default(),
        locks,
        stale_lock_threshold,
    };
    tokio::spawn(driver.run(cmd_rx, ctl_rx, ev_rx))
}

impl Driver {
    async fn run(
        mut self,
        mut cmd_rx: mpsc::UnboundedReceiver<Command>,
        mut ctl_rx: mpsc::UnboundedReceiver<Ctl>,
        mut ev_rx: mpsc::Receiver<StreamMsg>,
    ) -> Result<(), UpstreamError> {
        let out = self.out.clone();
        let every = (self.stale_lock_threshold / 2)
            .clamp(Duration::from_millis(100), Duration::from_secs(2));
        let mut lock_check = tokio::time::interval(every);
        lock_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let alive = tokio::select! {
                biased;
                () = out.closed() => false,
                cmd = cmd_rx.recv() => match cmd {
                    None => false,
                    Some(Command::Add(span, ts)) => {
                        self.add_span(span, ts).await?;
                        true
                    }
                    Some(Command::Remove(span)) => {
                        self.remove_span(&span);
                        true
                    }
                },
                Some(ctl) = ctl_rx.recv() => {
                    match ctl {
                        Ctl::RetryRegion(span, region, ts) => self.register(span, region, None, ts).await?,
                        Ctl::Relocate(span, s, e, ts) => self.relocate(span, &s, &e, ts).await?,
                    }
                    true
                }
                _ = lock_check.tick() => {
                    self.check_stale_locks();
                    true
                }
                Some(msg) = ev_rx.recv() => match msg {
                    StreamMsg::Event(key, ev, taken) => {
                        let alive = self.on_event(key, ev).await;
                        // The message is handled (or failed): its bytes go back to the
                        // stream readers.
                        drop(taken);
                        alive?
                    }
                    StreamMsg::End(key, generation, detail) => {
                        // The end of a stream already replaced says nothing about the current one.
                        if self.streams.is_current(key, generation) {
                            self.on_stream_end(key, &detail);
                        }
                        true
                    }
                },
            };
            if !alive {
                return Ok(());
            }
        }
    }

    /// Hands every region held back by locks to the lock resolver, without waiting (a
    /// full queue drops the task; the next check sends it again).
    fn check_stale_locks(&self) {
        let now = locks::now_ms();
        for (k, r) in self.regions.iter() {
            let Some(sp) = self.spans.get(k.0) else {
                continue;
            };
            let ts = sp.frontier.region_ts(k.1).unwrap_or(sp.start_ts);
            let Some(reason) = locks::needs_resolve(
                r.matcher.initialized(),
                r.registered_at.elapsed(),
                ts,
                now,
                self.stale_lock_threshold,
            ) else {
                continue;
            };
            let task = ResolveTask {
                region: r.region.clone(),
                store_id: r.stream.0,
                resolved_ts: ts,
                reason,
            };
            if self.locks.try_send(task).is_err() {
                return;
            }
        }
    }

    /// Sends `msg` to this task after `delay`.
    pub fn schedule(&self, delay: Duration, msg: Ctl) {
        let tx = self.ctl_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(msg);
        });
    }

    /// Sends `msg` to this task at once.
    pub fn retry_now(&self, msg: Ctl) {
        let _ = self.ctl_tx.send(msg);
    }

    async fn add_span(&mut self, span: Span, start_ts: u64) -> Result<(), UpstreamError> {
        let Some(id) = self.spans.add(span.clone(), start_ts) else {
            tracing::warn!(?span, "span added twice; ignored");
            return Ok(());
        };
        self.relocate(id, &span.start, &span.end, start_ts).await
    }

    fn remove_span(&mut self, span: &Span) {
        let Some(id) = self.spans.remove(span) else {
            return;
        };
        for k in self.regions.of_span(id) {
            if let Some(r) = self.regions.remove(k) {
                metrics::gauge!(m::UPSTREAM_REGIONS_SUBSCRIBED).decrement(1.0);
                self.deregister(&r, k.1);
            }
            self.regions.reset_attempts(k);
        }
        // The span's own V1 streams end with their request half (TiKV drops the connection).
        self.streams.remove_span(id);
        // What the span waited for is no longer anyone's fault.
        let touched = self.waits.remove_span(id);
        self.settle(touched);
        self.health.recovered(Component::Regions(id));
        tracing::info!(?span, "span removed");
    }

    /// Handles one message of a store stream; false when the consumer is gone.
    async fn on_event(
        &mut self,
        stream: StreamKey,
        ev: ChangeDataEvent,
    ) -> Result<bool, UpstreamError> {
        if let Some(rts) = ev.resolved_ts {
            for region_id in rts.regions {
                if !self
                    .resolve(stream, rts.request_id, region_id, rts.ts)
                    .await
                {
                    return Ok(false);
                }
            }
        }
        for e in ev.events {
            let region_id = e.region_id;
            let alive = match e.event {
                Some(event::Event::Entries(entries)) => {
                    self.on_entries(stream, e.request_id, region_id, entries)
                        .await?
                }
                #[allow(deprecated)]
                Some(event::Event::ResolvedTs(ts)) => {
                    self.resolve(stream, e.request_id, region_id, ts).await
                }
                Some(event::Event::Error(err)) => {
                    self.on_region_error(stream, e.request_id, region_id, err)?;
                    true
                }
                _ => true,
            };
            if !alive {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Feeds a region's entries to its matcher and sends the rows it completes; false when
    /// the consumer is gone.
    async fn on_entries(
        &mut self,
        stream: StreamKey,
        request_id: u64,
        region_id: u64,
        entries: event::Entries,
    ) -> Result<bool, UpstreamError> {
        let Some(k) = self.regions.owner(stream, request_id, region_id) else {
            return Ok(true);
        };
        let Some(r) = self.regions.get_mut(k) else {
            return Ok(true);
        };
        let start_ts = self.spans.get(k.0).map_or(u64::MAX, |s| s.start_ts);
        let mut out = Vec::new();
        let mut initialized = false;
        for row in entries.entries {
            self.counters.count(
                row.r#type,
                row.key.len() + row.value.len() + row.old_value.len(),
            );
            let init = row.r#type == event::LogType::Initialized as i32;
            r.matcher.apply(row, &mut out).map_err(|e| match e {
                MatchError::PrewriteNotMatch { key, start_ts } => UpstreamError::PrewriteNotMatch {
                    region_id,
                    key: hex::encode(key),
                    start_ts,
                },
                MatchError::Spill(e) => UpstreamError::PrewriteSpill(e),
            })?;
            if init {
                metrics::histogram!(m::UPSTREAM_INCREMENTAL_SCAN_DURATION_SECONDS)
                    .record(r.registered_at.elapsed().as_secs_f64());
                initialized = true;
            }
            // Sent as they complete, each within the byte budget, so a message of many
            // COMMITs (whose values come from the prewrite store) is never all in memory.
            for row in out.drain(..) {
                if row.commit_ts <= start_ts {
                    continue;
                }
                self.events.take(row.size()).await;
                if self.out.send(UpstreamEvent::Row(row)).await.is_err() {
                    return Ok(false);
                }
            }
        }
        if initialized {
            self.regions.reset_attempts(k);
        }
        Ok(true)
    }

    /// Applies a region's resolved ts; false when the consumer is gone.
    async fn resolve(
        &mut self,
        stream: StreamKey,
        request_id: u64,
        region_id: u64,
        ts: u64,
    ) -> bool {
        let Some(k) = self.regions.owner(stream, request_id, region_id) else {
            return true;
        };
        if !self.regions.get(k).is_some_and(|r| r.matcher.initialized()) {
            return true;
        }
        let Some(sp) = self.spans.get_mut(k.0) else {
            return true;
        };
        if let Some(ts) = sp.frontier.advance(region_id, ts) {
            let span = sp.span.clone();
            return self
                .out
                .send(UpstreamEvent::Resolved { span, ts })
                .await
                .is_ok();
        }
        true
    }

    /// Counts a region error, ends the feed when it is fatal, and otherwise hands the live
    /// registration it is about to the region lifecycle. Errors of registrations already
    /// dropped, moved or replaced are stale and ignored (TiKV also answers our own
    /// Deregister with `region_not_found`), unless they are cluster-wide.
    fn on_region_error(
        &mut self,
        stream: StreamKey,
        request_id: u64,
        region_id: u64,
        err: cdcpb::Error,
    ) -> Result<(), UpstreamError> {
        let store_id = stream.0;
        let kind = error_kind(&err);
        metrics::counter!(m::UPSTREAM_REGION_ERRORS_TOTAL, "kind" => kind).increment(1);
        let current: Option<RegionKey> = self.regions.owner(stream, request_id, region_id);
        if current.is_none() && err.cluster_id_mismatch.is_none() && err.compatibility.is_none() {
            return Ok(());
        }
        let action = classify(store_id, region_id, &err)?;
        if let Some(k) = current {
            self.recover(k, store_id, kind, action);
        }
        Ok(())
    }
}
