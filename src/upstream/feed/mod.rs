//! CDC client for many table spans: PD region discovery, **one** EventFeed stream per TiKV
//! store shared by every span (EventFeedV2 with `stream-multiplexing`; one EventFeed V1
//! stream per store and span on a TiKV without V2), one registration per (span, region), and
//! the region lifecycle (errors, re-location, reconnects). Spans are added and removed while
//! the feed runs ([`Feed::add_span`], [`Feed::remove_span`]); [`run`] is the one-span form.
//!
//! This module is the public face: [`Feed`], [`FeedOptions`], [`UpstreamEvent`], [`Span`]
//! and the one-span [`run`]. The work is done by one task, split by job: `driver` (the loop
//! that takes commands, retries and store-stream messages and feeds matchers and
//! frontiers), `spans` (the span registry and its frontiers), `registrations` (the live
//! region registrations and which one an event belongs to), `regions` (the region
//! lifecycle: locate, register, deregister, recover), `store_stream` (one gRPC stream per
//! store and its reader), `store_waits` (the ranges waiting on a failing store, so its
//! fault clears when nothing waits on it) and `errors` (what a region error means).
//!
//! Output contract on the channel given to [`Feed::start`]:
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
//! - the output channel and the events budget are the back-pressure: while either is full
//!   the feed waits, and the store streams wait behind a queue bounded in messages and in
//!   bytes ([`FeedOptions::streams`]), so memory stays bounded.
//!
//! Regions held back by locks are handed to the stale-lock resolver (`super::locks`): every
//! check (half the threshold, at most 2 s) the driver sends, without waiting, each region
//! whose resolved ts lags the wall clock by more than [`FeedOptions::stale_lock_threshold`]
//! or whose subscription has not initialized within it.
//!
//! Region errors are recovered from (see `regions` and `errors`), except
//! `cluster_id_mismatch`, `compatibility` and `duplicate_request`, which end the feed with
//! the matching fatal error.

mod budget;
mod driver;
mod errors;
mod regions;
mod registrations;
mod spans;
mod store_stream;
mod store_waits;

pub use budget::EventBudget;

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::UpstreamTls;

use super::error::UpstreamError;
use super::health::UpstreamHealth;
use super::pd::{ConnectOptions, PdClient};
use super::prewrites::PrewriteStore;
use crate::event::KvChange;
use driver::Command;

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
    /// Where PREWRITE values wait for their COMMIT (memory budget, spill file).
    pub prewrites: PrewriteStore,
    /// Bytes of rows sent and not yet released by the consumer ([`EventBudget`]).
    pub events: EventBudget,
    /// Bytes of raw store-stream messages read and not yet handled by the feed, all
    /// streams together (taken by the stream readers, given back by the feed itself; one
    /// budget per feed).
    pub streams: EventBudget,
    /// Where PD, store and region-scan failures being retried are reported.
    pub health: UpstreamHealth,
    /// A region lagging by more than this, or not initialized within it, has its locks
    /// resolved (`[upstream] stale-lock-threshold`).
    pub stale_lock_threshold: Duration,
}

impl FeedOptions {
    /// Plain-text options for these PD endpoints, 10 s connect timeout (the config default).
    pub fn new(pd_endpoints: Vec<String>) -> Self {
        FeedOptions {
            pd_endpoints,
            tls: None,
            connect_timeout: Duration::from_secs(10),
            prewrites: PrewriteStore::unbounded(),
            events: EventBudget::unbounded(),
            streams: EventBudget::unbounded(),
            health: UpstreamHealth::new(),
            stale_lock_threshold: Duration::from_secs(4),
        }
    }
}

/// Handle of a running multi-span feed. Cheap to clone; the feed stops when every handle
/// is dropped, when the output receiver is dropped, or on a fatal error (the join handle
/// returned by [`Feed::start`] then yields it).
#[derive(Debug, Clone)]
pub struct Feed {
    cmd: mpsc::UnboundedSender<Command>,
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
        let handle = driver::spawn(
            pd,
            tx,
            cmd_rx,
            driver::Budgets {
                prewrites: opts.prewrites,
                events: opts.events,
                streams: opts.streams,
            },
            opts.health,
            opts.stale_lock_threshold,
        );
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
