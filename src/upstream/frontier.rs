//! Span frontier: the resolved ts of a table span as the minimum over the regions that
//! currently cover it.
//!
//! Owns, per subscribed region, its encoded key range and last resolved ts. Guarantees:
//! - [`SpanFrontier::frontier`] never moves backwards, whatever regions report or how they are
//!   replaced (a region's own ts also never moves backwards);
//! - while any part of the span is not covered by a region with a known ts, the frontier stays
//!   where it was (so a gap after a split or merge cannot let it jump ahead);
//! - [`SpanFrontier::replace`] swaps a region for the regions that took over its range
//!   (split/merge/re-locate), each starting from a given ts, typically the old region's.

use std::collections::{BTreeMap, BTreeSet};

/// Resolved ts of a span, from its regions.
///
/// Cost: [`SpanFrontier::advance`] is `O(log n)` for `n` regions; the cover check
/// (`O(n log n)`) runs only after the set of regions changed (insert, remove, replace).
#[derive(Debug, Clone)]
pub struct SpanFrontier {
    span_start: Vec<u8>,
    span_end: Vec<u8>,
    /// region id → (start, end, resolved ts); keys encoded, clipped to the span.
    regions: BTreeMap<u64, (Vec<u8>, Vec<u8>, u64)>,
    /// (resolved ts, region id) of every region: the first is the minimum.
    by_ts: BTreeSet<(u64, u64)>,
    /// Whether the regions cover the span without a gap; `None` once regions changed.
    covered: Option<bool>,
    last: u64,
}

impl SpanFrontier {
    /// A frontier for the encoded span `[start, end)` (empty end = +inf) starting at `start_ts`.
    pub fn new(start: Vec<u8>, end: Vec<u8>, start_ts: u64) -> Self {
        SpanFrontier {
            span_start: start,
            span_end: end,
            regions: BTreeMap::new(),
            by_ts: BTreeSet::new(),
            covered: None,
            last: start_ts,
        }
    }

    /// Adds (or resets) a region covering encoded `[start, end)` at resolved ts `ts`.
    pub fn insert(&mut self, region_id: u64, start: Vec<u8>, end: Vec<u8>, ts: u64) {
        if let Some(old) = self.regions.insert(region_id, (start, end, ts)) {
            self.by_ts.remove(&(old.2, region_id));
        }
        self.by_ts.insert((ts, region_id));
        self.covered = None;
    }

    /// Removes a region; returns its last resolved ts.
    pub fn remove(&mut self, region_id: u64) -> Option<u64> {
        let r = self.regions.remove(&region_id)?;
        self.by_ts.remove(&(r.2, region_id));
        self.covered = None;
        Some(r.2)
    }

    /// Removes every region overlapping encoded `[start, end)` (empty end = +inf); returns
    /// the smallest resolved ts among them, the point from which the range must be
    /// re-subscribed so nothing is skipped.
    pub fn take_overlapping(&mut self, start: &[u8], end: &[u8]) -> Option<u64> {
        let overlaps =
            |s: &[u8], e: &[u8]| (end.is_empty() || s < end) && (e.is_empty() || e > start);
        let ids: Vec<u64> = self
            .regions
            .iter()
            .filter(|(_, (s, e, _))| overlaps(s, e))
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter().filter_map(|id| self.remove(id)).min()
    }

    /// The resolved ts of a region, if subscribed.
    pub fn region_ts(&self, region_id: u64) -> Option<u64> {
        self.regions.get(&region_id).map(|r| r.2)
    }

    /// Replaces `old` by `new` regions (id, start, end), each at resolved ts `ts`.
    pub fn replace(
        &mut self,
        old: u64,
        new: impl IntoIterator<Item = (u64, Vec<u8>, Vec<u8>)>,
        ts: u64,
    ) {
        self.remove(old);
        for (id, s, e) in new {
            self.insert(id, s, e, ts);
        }
    }

    /// Records a region's resolved ts (ignored if smaller than what it had, or unknown
    /// region). Returns the new frontier if it moved forward.
    pub fn advance(&mut self, region_id: u64, ts: u64) -> Option<u64> {
        let r = self.regions.get_mut(&region_id)?;
        if ts <= r.2 {
            return None;
        }
        self.by_ts.remove(&(r.2, region_id));
        r.2 = ts;
        self.by_ts.insert((ts, region_id));
        self.recompute()
    }

    /// Current frontier.
    pub fn frontier(&self) -> u64 {
        self.last
    }

    /// Recomputes the min over a full cover; returns it when it moved forward.
    pub fn recompute(&mut self) -> Option<u64> {
        let covered = match self.covered {
            Some(c) => c,
            None => {
                let c = self.compute_covered();
                self.covered = Some(c);
                c
            }
        };
        if !covered {
            return None;
        }
        let min = self.by_ts.first()?.0;
        if min > self.last {
            self.last = min;
            Some(min)
        } else {
            None
        }
    }

    /// Whether the regions cover the span without a gap. The minimum is then taken over
    /// every region, including overlapping leftovers (never above the true minimum).
    fn compute_covered(&self) -> bool {
        let mut rs: Vec<&(Vec<u8>, Vec<u8>, u64)> = self.regions.values().collect();
        rs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut cursor: &[u8] = &self.span_start;
        for (s, e, _) in rs {
            if s.as_slice() > cursor {
                return false;
            }
            if e.is_empty() {
                return true;
            }
            if e.as_slice() > cursor {
                cursor = e;
            }
            if !self.span_end.is_empty() && cursor >= self.span_end.as_slice() {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn upstream_frontier_is_min_over_regions() {
        let mut f = SpanFrontier::new(k("a"), k("z"), 5);
        f.insert(1, k("a"), k("m"), 5);
        f.insert(2, k("m"), k("z"), 5);
        assert_eq!(f.advance(1, 10), None, "region 2 still at 5");
        assert_eq!(f.advance(2, 8), Some(8));
        assert_eq!(f.advance(2, 20), Some(10));
        assert_eq!(f.frontier(), 10);
    }

    #[test]
    fn upstream_frontier_never_moves_backwards() {
        let mut f = SpanFrontier::new(k("a"), Vec::new(), 5);
        f.insert(1, k("a"), Vec::new(), 5);
        assert_eq!(f.advance(1, 10), Some(10));
        assert_eq!(f.advance(1, 7), None);
        assert_eq!(f.frontier(), 10);
        // A re-subscription from an older ts does not lower the frontier either.
        f.insert(1, k("a"), Vec::new(), 3);
        assert_eq!(f.recompute(), None);
        assert_eq!(f.advance(1, 9), None);
        assert_eq!(f.frontier(), 10);
        assert_eq!(f.advance(1, 11), Some(11));
    }

    #[test]
    fn upstream_frontier_split_replaces_region() {
        let mut f = SpanFrontier::new(k("a"), k("z"), 1);
        f.insert(1, k("a"), k("z"), 1);
        assert_eq!(f.advance(1, 10), Some(10));
        f.replace(1, vec![(2, k("a"), k("m")), (3, k("m"), k("z"))], 10);
        assert_eq!(f.advance(2, 15), None, "region 3 still at 10");
        assert_eq!(f.advance(3, 12), Some(12));
        assert_eq!(f.advance(1, 50), None, "old region is gone");
        assert_eq!(f.frontier(), 12);
    }

    #[test]
    fn upstream_frontier_merge_and_gap() {
        let mut f = SpanFrontier::new(k("a"), k("z"), 1);
        f.insert(1, k("a"), k("m"), 1);
        f.insert(2, k("m"), k("z"), 1);
        f.advance(1, 10);
        f.advance(2, 12);
        assert_eq!(f.frontier(), 10);
        // Region 2 fails: while only region 1 remains, the span has a gap.
        let ts2 = f.remove(2).expect("present");
        assert_eq!(f.advance(1, 30), None, "gap holds the frontier");
        // Merged region takes over both ranges.
        f.remove(1);
        f.insert(4, k("a"), k("z"), ts2.min(10));
        assert_eq!(f.recompute(), None);
        assert_eq!(f.advance(4, 40), Some(40));
    }

    #[test]
    fn upstream_frontier_regions_wider_than_span() {
        let mut f = SpanFrontier::new(k("c"), k("d"), 0);
        f.insert(1, Vec::new(), Vec::new(), 0);
        assert_eq!(f.advance(1, 3), Some(3));
    }

    #[test]
    fn upstream_frontier_take_overlapping_returns_min_ts() {
        let mut f = SpanFrontier::new(Vec::new(), Vec::new(), 0);
        f.insert(1, Vec::new(), k("m"), 7);
        f.insert(2, k("m"), k("t"), 5);
        f.insert(3, k("t"), Vec::new(), 9);
        assert_eq!(f.take_overlapping(b"a", b"n"), Some(5));
        assert_eq!(f.region_ts(3), Some(9));
        assert_eq!(f.region_ts(1), None);
        assert_eq!(f.take_overlapping(b"a", b"n"), None);
        assert_eq!(f.take_overlapping(b"u", b""), Some(9));
    }
}
