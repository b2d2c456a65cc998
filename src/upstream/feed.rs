//! CDC client for many table spans: PD region discovery, **one** EventFeed stream per TiKV
//! store shared by every span (EventFeedV2 with `stream-multiplexing`; one EventFeed V1
//! stream per store and span on a TiKV without V2), one registration per (span, region), and
//! the region lifecycle (errors, re-location, reconnects). Spans are added and removed while
//! the feed runs ([`Feed::add_span`], [`Feed::remove_span`]); [`run`] is the one-span form.
//!
//! Owns the spans' region subscriptions, their matchers (prewrite/commit) and one frontier
//! per span. Output contract on the channel given to [`Feed::start`]:
//! - [`UpstreamEvent::Row`]: a committed change (key, value, old value, op, start/commit ts)
//!   of a span, with `commit_ts >` the `start_ts` the span was added with;
//! - [`UpstreamEvent::Resolved`]: a span's resolved ts. Per span it is strictly increasing,
//!   and every row of that span with `commit_ts ≤ ts` was sent on the channel before it;
//! - rows are **not** sorted: within a region live commits of a key come in commit order, but
//!   TiKV's incremental scan sends a key's versions newest first and regions are independent,
//!   so consumers sort by `commit_ts` up to the resolved ts (as TiCDC does);
//! - **duplicates are possible** after any re-subscription (the scan re-sends commits above
//!   the region's resolved ts); delivery is at-least-once. Overlapping spans each receive
//!   the rows of their overlap;
//! - after [`Feed::remove_span`] returns, nothing more is sent for that span once the
//!   command is processed (its registrations are deregistered on TiKV);
//! - the output channel is the only back-pressure: while it is full the feed waits, and the
//!   store streams wait behind a small bounded queue (memory stays bounded).
//!
//! Region errors: `epoch_not_match`, `region_not_found` and unknown ones re-locate the
//! region's range through PD and register the regions found from the region's own resolved
//! ts; `not_leader` retries on the hinted leader (or re-locates without a hint);
//! `server_is_busy`/`congested` retry the region after a bounded jittered backoff; a broken
//! store stream re-locates every region of that stream after a backoff; a PD region scan that
//! leaves a hole in the range (regions moving during a split) is retried after a backoff
//! until the range is covered; `cluster_id_mismatch`, `compatibility` and `duplicate_request`
//! end the feed with the matching fatal error.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::config::UpstreamTls;
use crate::metrics as m;
use crate::proto::cdcpb::{
    self, ChangeDataEvent, ChangeDataRequest, change_data_client::ChangeDataClient,
    change_data_request, event,
};
use crate::proto::{kvrpcpb, metapb};

use super::error::UpstreamError;
use super::frontier::SpanFrontier;
use super::matcher::Matcher;
use super::pd::{ConnectOptions, PdClient, RegionInfo};
use crate::event::KvChange;

/// Version sent in the request header (≥ 5.3.0: batched resolved ts, cluster-id check).
pub const CLIENT_VERSION: &str = "8.5.0";

/// Store-stream messages queued for the feed before the streams wait (back-pressure).
const STREAM_QUEUE: usize = 16;

/// An encoded (memcomparable) key range; empty end = +inf.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: Vec<u8>,
    pub end: Vec<u8>,
}

/// What the feed emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamEvent {
    Row(KvChange),
    Resolved { span: Span, ts: u64 },
}

/// Settings of one single-span feed ([`run`]).
#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub pd_endpoints: Vec<String>,
    pub span: Span,
    /// Rows with `commit_ts > start_ts` are delivered.
    pub start_ts: u64,
}

/// Settings of a multi-span [`Feed`].
#[derive(Debug, Clone)]
pub struct FeedOptions {
    pub pd_endpoints: Vec<String>,
    /// TLS to PD and TiKV (`[upstream.tls]`: CA, and cert + key for mutual TLS); the PEM
    /// files are read by [`Feed::start`].
    pub tls: Option<UpstreamTls>,
    /// How long one attempt to open a PD or TiKV connection may take.
    pub connect_timeout: Duration,
}

impl FeedOptions {
    /// Plain-text options for these PD endpoints, 10 s connect timeout (the config default).
    pub fn new(pd_endpoints: Vec<String>) -> Self {
        FeedOptions {
            pd_endpoints,
            tls: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

enum Command {
    Add(Span, u64),
    Remove(Span),
}

/// Handle of a running multi-span feed. Cheap to clone; the feed stops when every handle
/// is dropped, when the output receiver is dropped, or on a fatal error (the join handle
/// returned by [`Feed::start`] then yields it).
#[derive(Debug, Clone)]
pub struct Feed {
    cmd: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Add(s, ts) => write!(f, "Add({s:?}, {ts})"),
            Command::Remove(s) => write!(f, "Remove({s:?})"),
        }
    }
}

impl Feed {
    /// Connects to PD and starts the feed task with no span. Fails when a TLS file is
    /// unusable or PD cannot be reached (the error names the endpoints and the cause, e.g.
    /// a certificate the CA does not verify).
    pub async fn start(
        opts: FeedOptions,
        tx: mpsc::Sender<UpstreamEvent>,
    ) -> Result<(Feed, JoinHandle<Result<(), UpstreamError>>), UpstreamError> {
        let conn = ConnectOptions::new(opts.tls.as_ref(), opts.connect_timeout)?;
        let pd = PdClient::connect_with(&opts.pd_endpoints, conn).await?;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::channel(STREAM_QUEUE);
        let driver = Driver {
            pd,
            out: tx,
            ctl_tx,
            ev_tx,
            spans: HashMap::new(),
            span_ids: HashMap::new(),
            next_span_id: 1,
            regions: HashMap::new(),
            by_request: HashMap::new(),
            streams: HashMap::new(),
            v1_stores: HashSet::new(),
            attempts: HashMap::new(),
            next_request_id: 1,
            stream_gen: 0,
        };
        let handle = tokio::spawn(driver.run(cmd_rx, ctl_rx, ev_rx));
        Ok((Feed { cmd: cmd_tx }, handle))
    }

    /// Starts replicating `span` (encoded keys): rows with `commit_ts > start_ts`, and its
    /// resolved ts from `start_ts` on. Adding a span already present is ignored.
    pub fn add_span(&self, span: Span, start_ts: u64) {
        let _ = self.cmd.send(Command::Add(span, start_ts));
    }

    /// Stops replicating `span`: its registrations are deregistered on TiKV and nothing
    /// more is sent for it. Unknown spans are ignored.
    pub fn remove_span(&self, span: &Span) {
        let _ = self.cmd.send(Command::Remove(span.clone()));
    }
}

/// Runs a feed of one span until the receiver is dropped (Ok) or a fatal error.
pub async fn run(cfg: FeedConfig, tx: mpsc::Sender<UpstreamEvent>) -> Result<(), UpstreamError> {
    let (feed, handle) = Feed::start(FeedOptions::new(cfg.pd_endpoints), tx).await?;
    feed.add_span(cfg.span, cfg.start_ts);
    let res = handle.await;
    drop(feed);
    match res {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Ok(()),
    }
}

/// A store stream: the store, and the span owning it for a V1 stream (0 = shared V2).
type StreamKey = (u64, u64);

struct SpanState {
    span: Span,
    start_ts: u64,
    frontier: SpanFrontier,
}

struct RegionState {
    region: metapb::Region,
    /// Request id of the live registration; events with another id are stale.
    request_id: u64,
    stream: StreamKey,
    matcher: Matcher,
    registered_at: Instant,
}

/// Control messages the feed sends itself (retries after a delay).
enum Ctl {
    /// Span id, region, resolved ts.
    RetryRegion(u64, metapb::Region, u64),
    /// Span id, encoded range, resolved ts.
    Relocate(u64, Vec<u8>, Vec<u8>, u64),
}

/// Messages of the store streams, in stream order.
enum StreamMsg {
    Event(StreamKey, ChangeDataEvent),
    /// Stream, generation, detail.
    End(StreamKey, u64, String),
}

struct Driver {
    pd: PdClient,
    out: mpsc::Sender<UpstreamEvent>,
    ctl_tx: mpsc::UnboundedSender<Ctl>,
    ev_tx: mpsc::Sender<StreamMsg>,
    spans: HashMap<u64, SpanState>,
    span_ids: HashMap<Span, u64>,
    next_span_id: u64,
    /// (span id, region id) → registration.
    regions: HashMap<(u64, u64), RegionState>,
    /// request id → (span id, region id) of the live registration.
    by_request: HashMap<u64, (u64, u64)>,
    /// Stream → (generation, request sender).
    streams: HashMap<StreamKey, (u64, mpsc::UnboundedSender<ChangeDataRequest>)>,
    /// Stores answering EventFeedV2 with `Unimplemented`.
    v1_stores: HashSet<u64>,
    attempts: HashMap<(u64, u64), u32>,
    next_request_id: u64,
    stream_gen: u64,
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

/// Whether `regions` (in key order) cover encoded `[start, end)` without a hole.
fn covers(regions: &[RegionInfo], start: &[u8], end: &[u8]) -> bool {
    let mut cursor = start.to_vec();
    for r in regions {
        if r.region.start_key.as_slice() > cursor.as_slice() {
            return false;
        }
        if r.region.end_key.is_empty() {
            return true;
        }
        if r.region.end_key > cursor {
            cursor = r.region.end_key.clone();
        }
        if !end.is_empty() && cursor.as_slice() >= end {
            return true;
        }
    }
    false
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

fn header(cluster_id: u64) -> Option<cdcpb::Header> {
    Some(cdcpb::Header {
        cluster_id,
        ticdc_version: CLIENT_VERSION.into(),
    })
}

impl Driver {
    async fn run(
        mut self,
        mut cmd_rx: mpsc::UnboundedReceiver<Command>,
        mut ctl_rx: mpsc::UnboundedReceiver<Ctl>,
        mut ev_rx: mpsc::Receiver<StreamMsg>,
    ) -> Result<(), UpstreamError> {
        let out = self.out.clone();
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
                Some(msg) = ev_rx.recv() => match msg {
                    StreamMsg::Event(key, ev) => self.on_event(key, ev).await?,
                    StreamMsg::End(key, generation, detail) => {
                        // The end of a stream already replaced says nothing about the current one.
                        if self.streams.get(&key).is_some_and(|(g, _)| *g == generation) {
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

    fn schedule(&self, delay: Duration, msg: Ctl) {
        let tx = self.ctl_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(msg);
        });
    }

    async fn add_span(&mut self, span: Span, start_ts: u64) -> Result<(), UpstreamError> {
        if self.span_ids.contains_key(&span) {
            tracing::warn!(?span, "span added twice; ignored");
            return Ok(());
        }
        let id = self.next_span_id;
        self.next_span_id += 1;
        self.span_ids.insert(span.clone(), id);
        self.spans.insert(
            id,
            SpanState {
                frontier: SpanFrontier::new(span.start.clone(), span.end.clone(), start_ts),
                span: span.clone(),
                start_ts,
            },
        );
        self.relocate(id, &span.start, &span.end, start_ts).await
    }

    fn remove_span(&mut self, span: &Span) {
        let Some(id) = self.span_ids.remove(span) else {
            return;
        };
        self.spans.remove(&id);
        let keys: Vec<(u64, u64)> = self.regions.keys().filter(|k| k.0 == id).copied().collect();
        for k in keys {
            if let Some(r) = self.regions.remove(&k) {
                metrics::gauge!(m::UPSTREAM_REGIONS_SUBSCRIBED).decrement(1.0);
                self.deregister(&r, k.1);
            }
            self.attempts.remove(&k);
        }
        // The span's own V1 streams end with their request half (TiKV drops the connection).
        self.streams.retain(|k, _| k.1 != id);
        tracing::info!(?span, "span removed");
    }

    /// Sends `Deregister` for a registration on its stream and forgets its request id.
    fn deregister(&mut self, r: &RegionState, region_id: u64) {
        self.by_request.remove(&r.request_id);
        if let Some((_, tx)) = self.streams.get(&r.stream) {
            let _ = tx.send(ChangeDataRequest {
                header: header(self.pd.cluster_id()),
                region_id,
                request_id: r.request_id,
                request: Some(change_data_request::Request::Deregister(
                    change_data_request::Deregister {},
                )),
                ..Default::default()
            });
        }
    }

    /// Scans PD for the regions of `[start, end)` ∩ span and registers each from `ts`.
    async fn relocate(
        &mut self,
        span_id: u64,
        start: &[u8],
        end: &[u8],
        ts: u64,
    ) -> Result<(), UpstreamError> {
        let Some(sp) = self.spans.get(&span_id) else {
            return Ok(());
        };
        let start = max_start(start, &sp.span.start);
        let end = min_end(end, &sp.span.end);
        let regions = match self.pd.scan_regions(&start, &end).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "region scan failed; retrying");
                let _ = self.pd.reconnect().await;
                self.schedule(backoff(3), Ctl::Relocate(span_id, start, end, ts));
                return Ok(());
            }
        };
        if !covers(&regions, &start, &end) {
            // Regions with holes (a split or merge in flight in PD): whatever covered the
            // range keeps holding the frontier; try again until PD covers it.
            tracing::info!(
                start = %hex::encode(&start),
                end = %hex::encode(&end),
                "region scan has holes; retrying"
            );
            metrics::counter!(m::UPSTREAM_REGION_ERRORS_TOTAL, "kind" => "region_holes")
                .increment(1);
            self.schedule(backoff(3), Ctl::Relocate(span_id, start, end, ts));
            return Ok(());
        }
        // Whatever covered this range before (a split parent, merge sources, a region
        // waiting for a retry) is replaced; resume from the oldest of their resolved ts.
        let ts = self
            .spans
            .get_mut(&span_id)
            .and_then(|s| s.frontier.take_overlapping(&start, &end))
            .map_or(ts, |t| t.min(ts));
        for RegionInfo { region, leader } in regions {
            self.register(span_id, region, leader.map(|p| p.store_id), ts)
                .await?;
        }
        Ok(())
    }

    /// Registers one region of a span on its leader's store (or `store`).
    async fn register(
        &mut self,
        span_id: u64,
        region: metapb::Region,
        store: Option<u64>,
        ts: u64,
    ) -> Result<(), UpstreamError> {
        let Some(sp) = self.spans.get(&span_id) else {
            return Ok(());
        };
        let s = max_start(&region.start_key, &sp.span.start);
        let e = min_end(&region.end_key, &sp.span.end);
        let store_id = match store.or_else(|| region.peers.first().map(|p| p.store_id)) {
            Some(s) => s,
            None => {
                self.schedule(
                    backoff(3),
                    Ctl::Relocate(
                        span_id,
                        region.start_key.clone(),
                        region.end_key.clone(),
                        ts,
                    ),
                );
                return Ok(());
            }
        };
        let (key, sender) = match self.stream(store_id, span_id).await {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(store_id, error = %err, "cannot open EventFeed; re-locating later");
                if let Some(sp) = self.spans.get_mut(&span_id) {
                    sp.frontier.remove(region.id);
                    sp.frontier.insert(region.id, s.clone(), e.clone(), ts);
                }
                let a = self.bump((span_id, region.id));
                self.schedule(
                    backoff(a),
                    Ctl::Relocate(
                        span_id,
                        region.start_key.clone(),
                        region.end_key.clone(),
                        ts,
                    ),
                );
                return Ok(());
            }
        };
        // Each registration has its own request id, so a registration never collides
        // with an older one of the same region still alive on TiKV (`duplicate_request`);
        // that older one is deregistered and whatever it still sends is ignored.
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let old = self.regions.remove(&(span_id, region.id));
        if let Some(old) = &old {
            self.deregister(old, region.id);
        }
        let req = ChangeDataRequest {
            header: header(self.pd.cluster_id()),
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
        if let Some(sp) = self.spans.get_mut(&span_id) {
            sp.frontier.insert(region.id, s, e, ts);
        }
        if sender.send(req).is_err() {
            if old.is_some() {
                metrics::gauge!(m::UPSTREAM_REGIONS_SUBSCRIBED).decrement(1.0);
            }
            self.streams.remove(&key);
            self.schedule(backoff(1), Ctl::RetryRegion(span_id, region, ts));
            return Ok(());
        }
        self.by_request.insert(request_id, (span_id, region.id));
        self.regions.insert(
            (span_id, region.id),
            RegionState {
                matcher: Matcher::new(region.id),
                request_id,
                region,
                stream: key,
                registered_at: Instant::now(),
            },
        );
        if old.is_none() {
            metrics::gauge!(m::UPSTREAM_REGIONS_SUBSCRIBED).increment(1.0);
        }
        Ok(())
    }

    fn bump(&mut self, key: (u64, u64)) -> u32 {
        let a = self.attempts.entry(key).or_insert(0);
        *a = a.saturating_add(1);
        *a
    }

    /// The stream a region of `span_id` on `store_id` goes to, opening it if needed: the
    /// store's shared EventFeedV2 stream, or the span's own V1 stream on a store without V2.
    async fn stream(
        &mut self,
        store_id: u64,
        span_id: u64,
    ) -> Result<(StreamKey, mpsc::UnboundedSender<ChangeDataRequest>), UpstreamError> {
        let mut key = if self.v1_stores.contains(&store_id) {
            (store_id, span_id)
        } else {
            (store_id, 0)
        };
        if let Some((_, s)) = self.streams.get(&key)
            && !s.is_closed()
        {
            return Ok((key, s.clone()));
        }
        let store = self.pd.get_store(store_id).await?;
        let conn = self.pd.connect_options();
        let addr = conn.url(&store.address);
        let err = |d: String| UpstreamError::StoreStream {
            store_id,
            address: addr.clone(),
            detail: d,
        };
        let channel = conn.channel(&addr, None).await.map_err(err)?;
        let mut client = ChangeDataClient::new(channel).max_decoding_message_size(256 << 20);
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let resp = if key.1 == 0 {
            let mut v2 = tonic::Request::new(UnboundedReceiverStream::new(req_rx));
            v2.metadata_mut().insert(
                "features",
                tonic::metadata::MetadataValue::from_static("stream-multiplexing"),
            );
            match client.event_feed_v2(v2).await {
                Ok(r) => Some(r),
                Err(s) if s.code() == tonic::Code::Unimplemented => {
                    tracing::info!(store_id, "store has no EventFeedV2; one EventFeed per span");
                    self.v1_stores.insert(store_id);
                    key = (store_id, span_id);
                    None
                }
                Err(s) => return Err(err(format!("EventFeedV2: {s}"))),
            }
        } else {
            None
        };
        let (resp, req_tx) = match resp {
            Some(r) => (r, req_tx),
            None => {
                let (req_tx, req_rx) = mpsc::unbounded_channel();
                let r = client
                    .event_feed(UnboundedReceiverStream::new(req_rx))
                    .await
                    .map_err(|s| err(format!("EventFeed: {s}")))?;
                (r, req_tx)
            }
        };
        self.stream_gen += 1;
        self.spawn_reader(key, self.stream_gen, resp.into_inner());
        self.streams.insert(key, (self.stream_gen, req_tx.clone()));
        Ok((key, req_tx))
    }

    fn spawn_reader(
        &self,
        key: StreamKey,
        generation: u64,
        mut stream: tonic::Streaming<ChangeDataEvent>,
    ) {
        let tx = self.ev_tx.clone();
        tokio::spawn(async move {
            loop {
                let msg = match stream.message().await {
                    Ok(Some(ev)) => StreamMsg::Event(key, ev),
                    Ok(None) => StreamMsg::End(key, generation, "stream closed".into()),
                    Err(s) => StreamMsg::End(key, generation, s.to_string()),
                };
                let end = matches!(msg, StreamMsg::End(..));
                if tx.send(msg).await.is_err() || end {
                    return;
                }
            }
        });
    }

    fn on_stream_end(&mut self, key: StreamKey, detail: &str) {
        let store_id = key.0;
        tracing::warn!(
            store_id,
            detail,
            "EventFeed stream ended; re-locating its regions"
        );
        metrics::counter!(m::UPSTREAM_STREAM_RECONNECTS_TOTAL, "store" => store_id.to_string())
            .increment(1);
        self.streams.remove(&key);
        let ids: Vec<(u64, u64)> = self
            .regions
            .iter()
            .filter(|(_, r)| r.stream == key)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(r) = self.regions.remove(&id) {
                self.by_request.remove(&r.request_id);
                metrics::gauge!(m::UPSTREAM_REGIONS_SUBSCRIBED).decrement(1.0);
                let Some(sp) = self.spans.get(&id.0) else {
                    continue;
                };
                let ts = sp.frontier.region_ts(id.1).unwrap_or(sp.start_ts);
                let a = self.bump(id);
                self.schedule(
                    backoff(a).max(Duration::from_millis(500)),
                    Ctl::Relocate(id.0, r.region.start_key, r.region.end_key, ts),
                );
            }
        }
    }

    /// The live registration an event of `stream` belongs to: by its request id, or (a
    /// resolved ts batched per connection, `request_id` 0) by the region alone when exactly
    /// one registration of it lives on the stream.
    fn owner(&self, stream: StreamKey, request_id: u64, region_id: u64) -> Option<(u64, u64)> {
        if request_id != 0 {
            let k = *self.by_request.get(&request_id)?;
            let r = self.regions.get(&k)?;
            return (k.1 == region_id && r.stream == stream && r.request_id == request_id)
                .then_some(k);
        }
        let mut found = self
            .regions
            .iter()
            .filter(|(k, r)| k.1 == region_id && r.stream == stream)
            .map(|(k, _)| *k);
        let k = found.next()?;
        found.next().is_none().then_some(k)
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
            match e.event {
                Some(event::Event::Entries(entries)) => {
                    let Some(k) = self.owner(stream, e.request_id, region_id) else {
                        continue;
                    };
                    let Some(r) = self.regions.get_mut(&k) else {
                        continue;
                    };
                    let mut out = Vec::new();
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
                            self.attempts.remove(&k);
                        }
                    }
                    let start_ts = self.spans.get(&k.0).map_or(u64::MAX, |s| s.start_ts);
                    for row in out {
                        if row.commit_ts <= start_ts {
                            continue;
                        }
                        if self.out.send(UpstreamEvent::Row(row)).await.is_err() {
                            return Ok(false);
                        }
                    }
                }
                #[allow(deprecated)]
                Some(event::Event::ResolvedTs(ts))
                    if !self.resolve(stream, e.request_id, region_id, ts).await =>
                {
                    return Ok(false);
                }
                Some(event::Event::Error(err)) => {
                    self.on_region_error(stream, e.request_id, region_id, err)?;
                }
                _ => {}
            }
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
        let Some(k) = self.owner(stream, request_id, region_id) else {
            return true;
        };
        if !self
            .regions
            .get(&k)
            .is_some_and(|r| r.matcher.initialized())
        {
            return true;
        }
        let Some(sp) = self.spans.get_mut(&k.0) else {
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
        // Errors for subscriptions already dropped, moved or replaced are stale (TiKV also
        // answers our own Deregister with region_not_found).
        let current = self.owner(stream, request_id, region_id);
        if current.is_none() && err.cluster_id_mismatch.is_none() && err.compatibility.is_none() {
            return Ok(());
        }
        let action = classify(store_id, region_id, &err)?;
        let Some(k) = current else {
            return Ok(());
        };
        let Some(r) = self.regions.remove(&k) else {
            return Ok(());
        };
        self.by_request.remove(&r.request_id);
        metrics::gauge!(m::UPSTREAM_REGIONS_SUBSCRIBED).decrement(1.0);
        let Some(sp) = self.spans.get(&k.0) else {
            return Ok(());
        };
        let ts = sp.frontier.region_ts(region_id).unwrap_or(sp.start_ts);
        let a = self.bump(k);
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
                    .ctl_tx
                    .send(Ctl::RetryRegion(k.0, on_store(r.region, leader), ts));
            }
            RegionAction::Backoff(min) => {
                let d = backoff(a).max(min);
                self.schedule(d, Ctl::RetryRegion(k.0, on_store(r.region, store_id), ts));
            }
            RegionAction::Relocate => self.schedule(
                backoff(a.saturating_sub(1)),
                Ctl::Relocate(k.0, r.region.start_key, r.region.end_key, ts),
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
    fn upstream_region_scan_cover_detects_holes() {
        let r = |s: &[u8], e: &[u8]| RegionInfo {
            region: metapb::Region {
                start_key: s.to_vec(),
                end_key: e.to_vec(),
                ..Default::default()
            },
            leader: None,
        };
        assert!(covers(&[r(b"", b"b"), r(b"b", b"")], b"", b""));
        assert!(covers(&[r(b"a", b"c"), r(b"c", b"f")], b"b", b"e"));
        assert!(
            !covers(&[r(b"", b"b"), r(b"c", b"")], b"", b""),
            "hole [b, c)"
        );
        assert!(!covers(&[r(b"", b"b")], b"", b"c"), "hole at the end");
        assert!(!covers(&[r(b"b", b"")], b"a", b""), "hole at the start");
        assert!(!covers(&[], b"a", b"b"));
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
