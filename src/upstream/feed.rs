//! CDC client for one table span: PD region discovery, one EventFeed stream per TiKV store,
//! one registration per region, and the region lifecycle (errors, re-location, reconnects).
//!
//! Owns the span's region subscriptions, their matchers (prewrite/commit) and the span
//! frontier. Output contract of [`run`] on its channel:
//! - [`UpstreamEvent::Row`]: a committed change (key, value, old value, op, start/commit ts)
//!   with `commit_ts > start_ts` of the feed;
//! - [`UpstreamEvent::Resolved`]: the span's resolved ts. It is strictly increasing, and every
//!   row with `commit_ts ≤ ts` was sent on the channel before it;
//! - rows are **not** sorted: within a region live commits of a key come in commit order, but
//!   TiKV's incremental scan sends a key's versions newest first and regions are independent,
//!   so consumers sort by `commit_ts` up to the resolved ts (as TiCDC does);
//! - **duplicates are possible** after any re-subscription (the scan re-sends commits above
//!   the region's resolved ts); delivery is at-least-once.
//!
//! Region errors: `epoch_not_match`, `region_not_found` and unknown ones re-locate the
//! region's range through PD and register the regions found from the region's own resolved
//! ts; `not_leader` retries on the hinted leader (or re-locates without a hint);
//! `server_is_busy`/`congested` retry the region after a bounded jittered backoff; a broken
//! store stream re-locates every region of that store after a backoff; `cluster_id_mismatch`,
//! `compatibility` and `duplicate_request` end [`run`] with the matching fatal error.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::metrics as m;
use crate::proto::cdcpb::{
    self, ChangeDataEvent, ChangeDataRequest, change_data_client::ChangeDataClient,
    change_data_request, event,
};
use crate::proto::{kvrpcpb, metapb};

use super::error::UpstreamError;
use super::frontier::SpanFrontier;
use super::matcher::{CommittedRow, Matcher};
use super::pd::{PdClient, RegionInfo, normalize_url};

/// Version sent in the request header (≥ 5.3.0: batched resolved ts, cluster-id check).
pub const CLIENT_VERSION: &str = "8.5.0";

/// An encoded (memcomparable) key range; empty end = +inf.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: Vec<u8>,
    pub end: Vec<u8>,
}

/// What the feed emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamEvent {
    Row(CommittedRow),
    Resolved { span: Span, ts: u64 },
}

/// Settings of one feed.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub pd_endpoints: Vec<String>,
    pub span: Span,
    /// Rows with `commit_ts > start_ts` are delivered.
    pub start_ts: u64,
}

struct RegionState {
    region: metapb::Region,
    /// Request id of the live registration; events with another id are stale.
    request_id: u64,
    store_id: u64,
    matcher: Matcher,
    registered_at: Instant,
}

enum Msg {
    Event(u64, ChangeDataEvent),
    /// Store id, stream generation, detail.
    StreamEnd(u64, u64, String),
    RetryRegion(metapb::Region, u64),
    Relocate(Vec<u8>, Vec<u8>, u64),
}

/// Runs the feed until the receiver is dropped (Ok) or a fatal error.
pub async fn run(cfg: FeedConfig, tx: mpsc::Sender<UpstreamEvent>) -> Result<(), UpstreamError> {
    let pd = PdClient::connect(&cfg.pd_endpoints).await?;
    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel();
    let mut f = Feed {
        frontier: SpanFrontier::new(cfg.span.start.clone(), cfg.span.end.clone(), cfg.start_ts),
        cfg,
        pd,
        tx,
        msg_tx,
        streams: HashMap::new(),
        regions: HashMap::new(),
        attempts: HashMap::new(),
        next_request_id: 1,
        stream_gen: 0,
    };
    let (s, e) = (f.cfg.span.start.clone(), f.cfg.span.end.clone());
    let ts = f.cfg.start_ts;
    f.relocate(&s, &e, ts).await?;
    while let Some(msg) = msg_rx.recv().await {
        let alive = match msg {
            Msg::Event(store, ev) => f.on_event(store, ev).await?,
            Msg::StreamEnd(store, generation, detail) => {
                // The end of a stream already replaced says nothing about the current one.
                if f.streams.get(&store).is_some_and(|(g, _)| *g == generation) {
                    f.on_stream_end(store, &detail);
                }
                true
            }
            Msg::RetryRegion(region, ts) => {
                f.register(region, None, ts).await?;
                true
            }
            Msg::Relocate(s, e, ts) => {
                f.relocate(&s, &e, ts).await?;
                true
            }
        };
        if !alive {
            return Ok(());
        }
    }
    Ok(())
}

struct Feed {
    cfg: FeedConfig,
    pd: PdClient,
    tx: mpsc::Sender<UpstreamEvent>,
    msg_tx: mpsc::UnboundedSender<Msg>,
    /// Store id → (stream generation, request sender).
    streams: HashMap<u64, (u64, mpsc::UnboundedSender<ChangeDataRequest>)>,
    stream_gen: u64,
    regions: HashMap<u64, RegionState>,
    frontier: SpanFrontier,
    attempts: HashMap<u64, u32>,
    next_request_id: u64,
}

/// `max(a, b)` of encoded starts.
fn max_start(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.max(b).to_vec()
}

/// `min(a, b)` of encoded ends, empty meaning +inf.
fn min_end(a: &[u8], b: &[u8]) -> Vec<u8> {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_vec(),
        (_, true) => a.to_vec(),
        _ => a.min(b).to_vec(),
    }
}

/// Jittered exponential backoff: 50 ms doubling to 2 s (TiCDC's region recovery delay).
fn backoff(attempt: u32) -> Duration {
    let base = 50u64.saturating_mul(1 << attempt.min(6)).min(2000);
    let nanos = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    );
    Duration::from_millis(base / 2 + nanos % (base / 2 + 1))
}

impl Feed {
    fn schedule(&self, delay: Duration, msg: Msg) {
        let tx = self.msg_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(msg);
        });
    }

    /// Scans PD for the regions of `[start, end)` ∩ span and registers each from `ts`.
    async fn relocate(&mut self, start: &[u8], end: &[u8], ts: u64) -> Result<(), UpstreamError> {
        let start = max_start(start, &self.cfg.span.start);
        let end = min_end(end, &self.cfg.span.end);
        let regions = match self.pd.scan_regions(&start, &end).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "region scan failed; retrying");
                let _ = self.pd.reconnect().await;
                self.schedule(backoff(3), Msg::Relocate(start, end, ts));
                return Ok(());
            }
        };
        // Whatever covered this range before (a split parent, merge sources, a region
        // waiting for a retry) is replaced; resume from the oldest of their resolved ts.
        let ts = self
            .frontier
            .take_overlapping(&start, &end)
            .map_or(ts, |t| t.min(ts));
        for RegionInfo { region, leader } in regions {
            self.register(region, leader.map(|p| p.store_id), ts)
                .await?;
        }
        Ok(())
    }

    /// Registers one region on its leader's store (or `store`).
    async fn register(
        &mut self,
        region: metapb::Region,
        store: Option<u64>,
        ts: u64,
    ) -> Result<(), UpstreamError> {
        let store_id = match store.or_else(|| region.peers.first().map(|p| p.store_id)) {
            Some(s) => s,
            None => {
                self.schedule(
                    backoff(3),
                    Msg::Relocate(region.start_key.clone(), region.end_key.clone(), ts),
                );
                return Ok(());
            }
        };
        let s = max_start(&region.start_key, &self.cfg.span.start);
        let e = min_end(&region.end_key, &self.cfg.span.end);
        let sender = match self.stream(store_id).await {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(store_id, error = %err, "cannot open EventFeed; re-locating later");
                self.frontier.remove(region.id);
                self.frontier.insert(region.id, s.clone(), e.clone(), ts);
                let a = self.bump(region.id);
                self.schedule(
                    backoff(a),
                    Msg::Relocate(region.start_key.clone(), region.end_key.clone(), ts),
                );
                return Ok(());
            }
        };
        // Each registration has its own request id, so a registration never collides
        // with an older one of the same region still alive on TiKV (`duplicate_request`);
        // that older one is deregistered and whatever it still sends is ignored.
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        if let Some(old) = self.regions.get(&region.id)
            && let Some((_, tx)) = self.streams.get(&old.store_id)
        {
            let _ = tx.send(ChangeDataRequest {
                header: Some(cdcpb::Header {
                    cluster_id: self.pd.cluster_id(),
                    ticdc_version: CLIENT_VERSION.into(),
                }),
                region_id: region.id,
                request_id: old.request_id,
                request: Some(change_data_request::Request::Deregister(
                    change_data_request::Deregister {},
                )),
                ..Default::default()
            });
        }
        let req = ChangeDataRequest {
            header: Some(cdcpb::Header {
                cluster_id: self.pd.cluster_id(),
                ticdc_version: CLIENT_VERSION.into(),
            }),
            region_id: region.id,
            region_epoch: region.region_epoch,
            checkpoint_ts: ts,
            start_key: s.clone(),
            end_key: e.clone(),
            request_id,
            extra_op: kvrpcpb::ExtraOp::ReadOldValue as i32,
            request: Some(change_data_request::Request::Register(
                change_data_request::Register {},
            )),
            ..Default::default()
        };
        self.frontier.insert(region.id, s, e, ts);
        if sender.send(req).is_err() {
            self.streams.remove(&store_id);
            self.schedule(backoff(1), Msg::RetryRegion(region, ts));
            return Ok(());
        }
        if self
            .regions
            .insert(
                region.id,
                RegionState {
                    matcher: Matcher::new(region.id),
                    request_id,
                    region,
                    store_id,
                    registered_at: Instant::now(),
                },
            )
            .is_none()
        {
            metrics::gauge!(m::UPSTREAM_REGIONS_SUBSCRIBED).increment(1.0);
        }
        Ok(())
    }

    fn bump(&mut self, region: u64) -> u32 {
        let a = self.attempts.entry(region).or_insert(0);
        *a = a.saturating_add(1);
        *a
    }

    /// The request sender of the store's stream, opening it if needed.
    async fn stream(
        &mut self,
        store_id: u64,
    ) -> Result<mpsc::UnboundedSender<ChangeDataRequest>, UpstreamError> {
        if let Some((_, s)) = self.streams.get(&store_id)
            && !s.is_closed()
        {
            return Ok(s.clone());
        }
        let store = self.pd.get_store(store_id).await?;
        let addr = normalize_url(&store.address);
        let err = |d: String| UpstreamError::StoreStream {
            store_id,
            address: addr.clone(),
            detail: d,
        };
        let channel = tonic::transport::Endpoint::from_shared(addr.clone())
            .map_err(|e| err(e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| err(e.to_string()))?;
        let mut client = ChangeDataClient::new(channel).max_decoding_message_size(256 << 20);
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let mut v2 = tonic::Request::new(UnboundedReceiverStream::new(req_rx));
        v2.metadata_mut().insert(
            "features",
            tonic::metadata::MetadataValue::from_static("stream-multiplexing"),
        );
        let resp = match client.event_feed_v2(v2).await {
            Ok(r) => r,
            Err(s) if s.code() == tonic::Code::Unimplemented => {
                let (req_tx, req_rx) = mpsc::unbounded_channel();
                let r = client
                    .event_feed(UnboundedReceiverStream::new(req_rx))
                    .await
                    .map_err(|s| err(format!("EventFeed: {s}")))?;
                self.stream_gen += 1;
                self.spawn_reader(store_id, self.stream_gen, r.into_inner());
                self.streams
                    .insert(store_id, (self.stream_gen, req_tx.clone()));
                return Ok(req_tx);
            }
            Err(s) => return Err(err(format!("EventFeedV2: {s}"))),
        };
        self.stream_gen += 1;
        self.spawn_reader(store_id, self.stream_gen, resp.into_inner());
        self.streams
            .insert(store_id, (self.stream_gen, req_tx.clone()));
        Ok(req_tx)
    }

    fn spawn_reader(
        &self,
        store_id: u64,
        generation: u64,
        mut stream: tonic::Streaming<ChangeDataEvent>,
    ) {
        let tx = self.msg_tx.clone();
        tokio::spawn(async move {
            loop {
                match stream.message().await {
                    Ok(Some(ev)) => {
                        if tx.send(Msg::Event(store_id, ev)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => {
                        let _ =
                            tx.send(Msg::StreamEnd(store_id, generation, "stream closed".into()));
                        return;
                    }
                    Err(s) => {
                        let _ = tx.send(Msg::StreamEnd(store_id, generation, s.to_string()));
                        return;
                    }
                }
            }
        });
    }

    fn on_stream_end(&mut self, store_id: u64, detail: &str) {
        tracing::warn!(
            store_id,
            detail,
            "EventFeed stream ended; re-locating its regions"
        );
        metrics::counter!(m::UPSTREAM_STREAM_RECONNECTS_TOTAL, "store" => store_id.to_string())
            .increment(1);
        self.streams.remove(&store_id);
        let ids: Vec<u64> = self
            .regions
            .iter()
            .filter(|(_, r)| r.store_id == store_id)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(r) = self.regions.remove(&id) {
                metrics::gauge!(m::UPSTREAM_REGIONS_SUBSCRIBED).decrement(1.0);
                let ts = self.frontier.region_ts(id).unwrap_or(self.cfg.start_ts);
                let a = self.bump(id);
                self.schedule(
                    backoff(a).max(Duration::from_millis(500)),
                    Msg::Relocate(r.region.start_key, r.region.end_key, ts),
                );
            }
        }
    }

    /// Handles one message of a store stream; false when the consumer is gone.
    async fn on_event(
        &mut self,
        store_id: u64,
        ev: ChangeDataEvent,
    ) -> Result<bool, UpstreamError> {
        if let Some(rts) = ev.resolved_ts {
            for region_id in rts.regions {
                if !self
                    .resolve(store_id, rts.request_id, region_id, rts.ts)
                    .await
                {
                    return Ok(false);
                }
            }
        }
        for e in ev.events {
            let region_id = e.region_id;
            match e.event {
                Some(event::Event::Entries(entries)) => {
                    let mut out = Vec::new();
                    let Some(r) = self.regions.get_mut(&region_id) else {
                        continue;
                    };
                    if r.store_id != store_id || r.request_id != e.request_id {
                        continue;
                    }
                    for row in entries.entries {
                        let ty = event::LogType::try_from(row.r#type)
                            .map_or("unknown", |t| t.as_str_name());
                        metrics::counter!(m::UPSTREAM_EVENTS_TOTAL, "type" => ty.to_ascii_lowercase())
                            .increment(1);
                        metrics::counter!(m::UPSTREAM_RECEIVED_BYTES_TOTAL).increment(
                            (row.key.len() + row.value.len() + row.old_value.len()) as u64,
                        );
                        let init = row.r#type == event::LogType::Initialized as i32;
                        r.matcher.apply(row, &mut out).map_err(|e| match e {
                            super::matcher::MatchError::PrewriteNotMatch { key, start_ts } => {
                                UpstreamError::PrewriteNotMatch {
                                    region_id,
                                    key: hex::encode(key),
                                    start_ts,
                                }
                            }
                        })?;
                        if init {
                            metrics::histogram!(m::UPSTREAM_INCREMENTAL_SCAN_DURATION_SECONDS)
                                .record(r.registered_at.elapsed().as_secs_f64());
                            self.attempts.remove(&region_id);
                        }
                    }
                    for row in out {
                        if row.commit_ts <= self.cfg.start_ts {
                            continue;
                        }
                        if self.tx.send(UpstreamEvent::Row(row)).await.is_err() {
                            return Ok(false);
                        }
                    }
                }
                #[allow(deprecated)]
                Some(event::Event::ResolvedTs(ts))
                    if !self.resolve(store_id, e.request_id, region_id, ts).await =>
                {
                    return Ok(false);
                }
                Some(event::Event::Error(err)) => {
                    self.on_region_error(store_id, e.request_id, region_id, err)?;
                }
                _ => {}
            }
        }
        Ok(true)
    }

    /// Applies a region's resolved ts; false when the consumer is gone.
    /// `request_id` 0 (resolved ts batched per connection) matches any registration.
    async fn resolve(&mut self, store_id: u64, request_id: u64, region_id: u64, ts: u64) -> bool {
        let ready = self.regions.get(&region_id).is_some_and(|r| {
            r.store_id == store_id
                && (request_id == 0 || r.request_id == request_id)
                && r.matcher.initialized()
        });
        if !ready {
            return true;
        }
        if let Some(ts) = self.frontier.advance(region_id, ts) {
            let span = self.cfg.span.clone();
            return self
                .tx
                .send(UpstreamEvent::Resolved { span, ts })
                .await
                .is_ok();
        }
        true
    }

    fn on_region_error(
        &mut self,
        store_id: u64,
        request_id: u64,
        region_id: u64,
        err: cdcpb::Error,
    ) -> Result<(), UpstreamError> {
        let kind = error_kind(&err);
        metrics::counter!(m::UPSTREAM_REGION_ERRORS_TOTAL, "kind" => kind).increment(1);
        // Errors for subscriptions already dropped, moved or replaced are stale (TiKV also
        // answers our own Deregister with region_not_found).
        let current = self
            .regions
            .get(&region_id)
            .is_some_and(|r| r.store_id == store_id && r.request_id == request_id);
        if !current && err.cluster_id_mismatch.is_none() && err.compatibility.is_none() {
            return Ok(());
        }
        let action = classify(store_id, region_id, &err)?;
        if !current {
            return Ok(());
        }
        let Some(r) = self.regions.remove(&region_id) else {
            return Ok(());
        };
        metrics::gauge!(m::UPSTREAM_REGIONS_SUBSCRIBED).decrement(1.0);
        let ts = self
            .frontier
            .region_ts(region_id)
            .unwrap_or(self.cfg.start_ts);
        let a = self.bump(region_id);
        tracing::info!(region_id, store_id, kind, ts, "region error");
        let on_store = |region: metapb::Region, store: u64| metapb::Region {
            peers: vec![metapb::Peer {
                store_id: store,
                ..Default::default()
            }],
            ..region
        };
        match action {
            RegionAction::RetryOn(leader) => {
                let _ = self
                    .msg_tx
                    .send(Msg::RetryRegion(on_store(r.region, leader), ts));
            }
            RegionAction::Backoff(min) => {
                let d = backoff(a).max(min);
                self.schedule(d, Msg::RetryRegion(on_store(r.region, store_id), ts));
            }
            RegionAction::Relocate => self.schedule(
                backoff(a.saturating_sub(1)),
                Msg::Relocate(r.region.start_key, r.region.end_key, ts),
            ),
        }
        Ok(())
    }
}

/// What to do about a region error that is not fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegionAction {
    /// Register the same region on this store at once (leader hint).
    RetryOn(u64),
    /// Register the same region on the same store after at least this long.
    Backoff(Duration),
    /// Drop the region, find the regions of its range through PD, register them.
    Relocate,
}

/// Maps a region error to an action, or to the fatal error it is.
fn classify(
    store_id: u64,
    region_id: u64,
    err: &cdcpb::Error,
) -> Result<RegionAction, UpstreamError> {
    if let Some(e) = &err.cluster_id_mismatch {
        return Err(UpstreamError::ClusterIdMismatch {
            store_id,
            current: e.current,
            requested: e.request,
        });
    }
    if let Some(e) = &err.compatibility {
        return Err(UpstreamError::Compatibility {
            store_id,
            required_version: e.required_version.clone(),
        });
    }
    if err.duplicate_request.is_some() {
        return Err(UpstreamError::DuplicateRequest {
            store_id,
            region_id,
        });
    }
    if let Some(n) = &err.not_leader {
        return Ok(
            match n
                .leader
                .as_ref()
                .map(|p| p.store_id)
                .filter(|s| *s != 0 && *s != store_id)
            {
                Some(leader) => RegionAction::RetryOn(leader),
                None => RegionAction::Relocate,
            },
        );
    }
    if let Some(b) = &err.server_is_busy {
        return Ok(RegionAction::Backoff(Duration::from_millis(
            b.backoff_ms.min(10_000),
        )));
    }
    if err.congested.is_some() {
        return Ok(RegionAction::Backoff(Duration::ZERO));
    }
    // epoch_not_match, region_not_found, unknown.
    Ok(RegionAction::Relocate)
}

fn error_kind(e: &cdcpb::Error) -> &'static str {
    if e.not_leader.is_some() {
        "not_leader"
    } else if e.epoch_not_match.is_some() {
        "epoch_not_match"
    } else if e.region_not_found.is_some() {
        "region_not_found"
    } else if e.server_is_busy.is_some() {
        "server_is_busy"
    } else if e.congested.is_some() {
        "congested"
    } else if e.duplicate_request.is_some() {
        "duplicate_request"
    } else if e.compatibility.is_some() {
        "compatibility"
    } else if e.cluster_id_mismatch.is_some() {
        "cluster_id_mismatch"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_span_clipping() {
        assert_eq!(max_start(b"a", b"b"), b"b");
        assert_eq!(min_end(b"", b"c"), b"c");
        assert_eq!(min_end(b"d", b""), b"d");
        assert_eq!(min_end(b"d", b"c"), b"c");
    }

    #[test]
    fn upstream_backoff_is_bounded() {
        for a in 0..40 {
            assert!(backoff(a) <= Duration::from_millis(2000));
        }
    }

    #[test]
    fn upstream_region_errors_classified() {
        use crate::proto::{cdcpb, errorpb, metapb};
        use crate::upstream::ErrorKind;
        let e = |f: &dyn Fn(&mut cdcpb::Error)| {
            let mut x = cdcpb::Error::default();
            f(&mut x);
            classify(2, 10, &x)
        };
        let fatal = |r: Result<RegionAction, UpstreamError>| r.expect_err("fatal").kind();
        assert_eq!(
            fatal(e(&|x| x.cluster_id_mismatch =
                Some(cdcpb::ClusterIdMismatch {
                    current: 1,
                    request: 2
                }))),
            ErrorKind::Fatal
        );
        assert!(matches!(
            e(&|x| x.compatibility = Some(cdcpb::Compatibility {
                required_version: "6.2.0".into()
            })),
            Err(UpstreamError::Compatibility { store_id: 2, .. })
        ));
        assert!(matches!(
            e(&|x| x.duplicate_request = Some(cdcpb::DuplicateRequest { region_id: 10 })),
            Err(UpstreamError::DuplicateRequest {
                store_id: 2,
                region_id: 10
            })
        ));
        let leader = |s| metapb::Peer {
            store_id: s,
            ..Default::default()
        };
        assert_eq!(
            e(&|x| x.not_leader = Some(errorpb::NotLeader {
                region_id: 10,
                leader: Some(leader(3))
            }))
            .ok(),
            Some(RegionAction::RetryOn(3))
        );
        assert_eq!(
            e(&|x| x.not_leader = Some(errorpb::NotLeader {
                region_id: 10,
                leader: None
            }))
            .ok(),
            Some(RegionAction::Relocate)
        );
        assert_eq!(
            e(&|x| x.epoch_not_match = Some(errorpb::EpochNotMatch::default())).ok(),
            Some(RegionAction::Relocate)
        );
        assert_eq!(
            e(&|x| x.region_not_found = Some(errorpb::RegionNotFound { region_id: 10 })).ok(),
            Some(RegionAction::Relocate)
        );
        assert_eq!(
            e(&|x| x.server_is_busy = Some(errorpb::ServerIsBusy {
                backoff_ms: 20,
                ..Default::default()
            }))
            .ok(),
            Some(RegionAction::Backoff(Duration::from_millis(20)))
        );
        assert_eq!(
            e(&|x| x.congested = Some(cdcpb::Congested { region_id: 10 })).ok(),
            Some(RegionAction::Backoff(Duration::ZERO))
        );
        assert_eq!(e(&|_| {}).ok(), Some(RegionAction::Relocate));
    }
}
