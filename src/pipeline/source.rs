//! The changefeed's subscriptions to TiKV: one upstream span per replicated physical table
//! (its record range) plus the DDL job table, added and removed while running.
//!
//! Owns the mapping from a table to the memcomparable span the upstream client subscribes,
//! and the feed tasks. Guarantees: every event of every span arrives on the one channel
//! given at construction (bounded: a slow pipeline makes the feeds wait); a feed that ends
//! with an error reports it on the error channel instead of vanishing; removing a span
//! stops its events.

use std::collections::HashMap;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::mount::bytes::encode_bytes;
use crate::mount::key::record_range;
use crate::upstream::UpstreamError;
use crate::upstream::feed::{self, FeedConfig, Span, UpstreamEvent};

/// The memcomparable span of a physical table's records (`t{id}_r` .. `t{id}_s`), as PD
/// and the CDC requests address it.
pub fn table_span(physical_id: i64) -> Span {
    let (start, end) = record_range(physical_id);
    encode_span(&start, &end)
}

/// Encodes a raw key range for PD and TiKV CDC.
pub fn encode_span(start: &[u8], end: &[u8]) -> Span {
    let mut s = Vec::with_capacity(start.len() + start.len() / 8 + 9);
    encode_bytes(&mut s, start);
    let mut e = Vec::with_capacity(end.len() + end.len() / 8 + 9);
    if !end.is_empty() {
        encode_bytes(&mut e, end);
    }
    Span { start: s, end: e }
}

/// Where subscriptions come from; the pipeline only adds and removes spans.
pub trait Subscriptions: Send {
    /// Starts delivering committed rows of `span` with commit ts above `start_ts`.
    fn add(&mut self, span: Span, start_ts: u64);
    /// Stops delivering `span`.
    fn remove(&mut self, span: &Span);
}

/// One upstream feed task per span over the shared PD endpoints.
#[derive(Debug)]
pub struct FeedSet {
    pd_endpoints: Vec<String>,
    events: mpsc::Sender<UpstreamEvent>,
    errors: mpsc::UnboundedSender<UpstreamError>,
    tasks: HashMap<Span, JoinHandle<()>>,
}

impl FeedSet {
    pub fn new(
        pd_endpoints: Vec<String>,
        events: mpsc::Sender<UpstreamEvent>,
        errors: mpsc::UnboundedSender<UpstreamError>,
    ) -> Self {
        FeedSet {
            pd_endpoints,
            events,
            errors,
            tasks: HashMap::new(),
        }
    }

    /// Spans subscribed now.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

impl Subscriptions for FeedSet {
    fn add(&mut self, span: Span, start_ts: u64) {
        let cfg = FeedConfig {
            pd_endpoints: self.pd_endpoints.clone(),
            span: span.clone(),
            start_ts,
        };
        let events = self.events.clone();
        let errors = self.errors.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = feed::run(cfg, events).await {
                let _ = errors.send(e);
            }
        });
        if let Some(old) = self.tasks.insert(span, task) {
            old.abort();
        }
    }

    fn remove(&mut self, span: &Span) {
        if let Some(t) = self.tasks.remove(span) {
            t.abort();
        }
    }
}

impl Drop for FeedSet {
    fn drop(&mut self) {
        for (_, t) in self.tasks.drain() {
            t.abort();
        }
    }
}
