//! The live region registrations of a feed, one per (span, region), each with its own
//! request id, the stream it lives on and its prewrite/commit matcher; and the count of
//! failed attempts per (span, region) that sizes the next backoff.
//!
//! Guarantees: an event is attributed to a registration only when it is that
//! registration's (same request id, region and stream), or, for a resolved ts batched per
//! connection (request id 0), when exactly one registration of the region lives on the
//! stream; events of registrations replaced or dropped are thereby ignored.

use std::collections::HashMap;
use std::time::Instant;

use super::store_stream::StreamKey;
use crate::proto::metapb;
use crate::upstream::matcher::Matcher;

/// (span id, region id).
pub(super) type RegionKey = (u64, u64);

/// One live registration of a region of a span.
pub(super) struct RegionState {
    pub region: metapb::Region,
    /// Request id of the live registration; events with another id are stale.
    pub request_id: u64,
    pub stream: StreamKey,
    pub matcher: Matcher,
    pub registered_at: Instant,
}

pub(super) struct Registrations {
    live: HashMap<RegionKey, RegionState>,
    /// request id → (span id, region id) of the live registration.
    by_request: HashMap<u64, RegionKey>,
    /// region id → its live registrations (one per span covering it): finds the owner of a
    /// resolved ts batched without a request id without a scan of every registration.
    by_region: HashMap<u64, Vec<RegionKey>>,
    attempts: HashMap<RegionKey, u32>,
    next_request_id: u64,
}

impl Registrations {
    pub fn new() -> Self {
        Registrations {
            live: HashMap::new(),
            by_request: HashMap::new(),
            by_region: HashMap::new(),
            attempts: HashMap::new(),
            next_request_id: 1,
        }
    }

    /// A request id never used before by this feed.
    pub fn new_request_id(&mut self) -> u64 {
        let id = self.next_request_id;
        self.next_request_id += 1;
        id
    }

    pub fn insert(&mut self, key: RegionKey, state: RegionState) {
        self.by_request.insert(state.request_id, key);
        let keys = self.by_region.entry(key.1).or_default();
        if !keys.contains(&key) {
            keys.push(key);
        }
        self.live.insert(key, state);
    }

    /// Drops the registration of `key` (and its request id) and returns it.
    pub fn remove(&mut self, key: RegionKey) -> Option<RegionState> {
        let r = self.live.remove(&key)?;
        self.by_request.remove(&r.request_id);
        if let Some(keys) = self.by_region.get_mut(&key.1) {
            keys.retain(|k| *k != key);
            if keys.is_empty() {
                self.by_region.remove(&key.1);
            }
        }
        Some(r)
    }

    pub fn get(&self, key: RegionKey) -> Option<&RegionState> {
        self.live.get(&key)
    }

    pub fn get_mut(&mut self, key: RegionKey) -> Option<&mut RegionState> {
        self.live.get_mut(&key)
    }

    /// Every live registration.
    pub fn iter(&self) -> impl Iterator<Item = (&RegionKey, &RegionState)> {
        self.live.iter()
    }

    /// The registrations living on `stream`.
    pub fn on_stream(&self, stream: StreamKey) -> Vec<RegionKey> {
        self.live
            .iter()
            .filter(|(_, r)| r.stream == stream)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The registrations of a span.
    pub fn of_span(&self, span_id: u64) -> Vec<RegionKey> {
        self.live
            .keys()
            .filter(|k| k.0 == span_id)
            .copied()
            .collect()
    }

    /// The live registration an event of `stream` belongs to: by its request id, or (a
    /// resolved ts batched per connection, `request_id` 0) by the region alone when exactly
    /// one registration of it lives on the stream.
    pub fn owner(&self, stream: StreamKey, request_id: u64, region_id: u64) -> Option<RegionKey> {
        if request_id != 0 {
            let k = *self.by_request.get(&request_id)?;
            let r = self.live.get(&k)?;
            return (k.1 == region_id && r.stream == stream && r.request_id == request_id)
                .then_some(k);
        }
        let mut found = self
            .by_region
            .get(&region_id)?
            .iter()
            .filter(|k| self.live.get(k).is_some_and(|r| r.stream == stream))
            .copied();
        let k = found.next()?;
        found.next().is_none().then_some(k)
    }

    /// Counts one more failed attempt of `key`; returns the count.
    pub fn bump(&mut self, key: RegionKey) -> u32 {
        let a = self.attempts.entry(key).or_insert(0);
        *a = a.saturating_add(1);
        *a
    }

    /// Forgets the failed attempts of `key` (its scan completed, or it is gone).
    pub fn reset_attempts(&mut self, key: RegionKey) {
        self.attempts.remove(&key);
    }
}
