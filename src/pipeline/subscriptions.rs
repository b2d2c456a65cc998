//! The changefeed's subscriptions to TiKV: one upstream span per replicated physical table
//! (its record range) plus the DDL job table, added and removed while running.
//!
//! Owns the mapping from a table to the memcomparable span the upstream client subscribes.
//! The client ([`Feed`]) multiplexes every span on one stream per store; its events arrive
//! on one bounded channel, so a slow pipeline makes TiKV's streams wait.

use crate::mount::bytes::encode_bytes;
use crate::mount::key::record_range;
use crate::upstream::feed::{Feed, Span};

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
pub trait Subscriptions: Send + Sync {
    /// Starts delivering committed rows of `span` with commit ts above `start_ts`.
    fn add(&mut self, span: Span, start_ts: u64);
    /// Stops delivering `span`.
    fn remove(&mut self, span: &Span);
}

/// The upstream client: every span multiplexed on one EventFeed stream per TiKV store.
impl Subscriptions for Feed {
    fn add(&mut self, span: Span, start_ts: u64) {
        self.add_span(span, start_ts);
    }

    fn remove(&mut self, span: &Span) {
        self.remove_span(span);
    }
}
