//! Which key ranges of which spans wait on a store that failed them: its EventFeed stream
//! could not be opened, or PD reports it removed from the cluster (tombstone).
//!
//! Owns, per store, the ranges whose registration last failed on it. It exists so that a
//! store's fault is cleared once nothing waits on it any more — its stream opened, or the
//! ranges it failed were registered elsewhere (PD named new leaders), re-located or their
//! span removed — rather than only by a successful open, which never comes for a store
//! that is gone for good. Guarantees: [`StoreWaits::take_overlapping`] removes every entry of
//! a span overlapping a range and names the stores it touched; [`StoreWaits::idle`] is true
//! for a store with no entry left; an empty end key means +inf, as everywhere in the feed.

use std::collections::{BTreeMap, BTreeSet};

/// A span id and an encoded `[start, end)` range.
type Range = (u64, Vec<u8>, Vec<u8>);

/// The ranges waiting on each failing store.
#[derive(Debug, Default)]
pub(super) struct StoreWaits {
    by_store: BTreeMap<u64, BTreeSet<Range>>,
}

impl StoreWaits {
    /// `[start, end)` of span `span_id` failed on `store` and will be retried.
    pub fn wait(&mut self, store: u64, span_id: u64, start: &[u8], end: &[u8]) {
        self.by_store
            .entry(store)
            .or_default()
            .insert((span_id, start.to_vec(), end.to_vec()));
    }

    /// Removes the entries of `span_id` overlapping `[start, end)` (being registered
    /// again); returns the stores they waited on.
    pub fn take_overlapping(&mut self, span_id: u64, start: &[u8], end: &[u8]) -> Vec<u64> {
        let mut touched = Vec::new();
        for (store, ranges) in &mut self.by_store {
            let before = ranges.len();
            ranges.retain(|(s, a, b)| !(*s == span_id && overlaps(a, b, start, end)));
            if ranges.len() != before {
                touched.push(*store);
            }
        }
        self.by_store.retain(|_, r| !r.is_empty());
        touched
    }

    /// Removes every entry of a span; returns the stores they waited on.
    pub fn remove_span(&mut self, span_id: u64) -> Vec<u64> {
        self.take_overlapping(span_id, &[], &[])
    }

    /// Forgets what waits on `store` (its stream opened: they are retried anyway).
    pub fn clear_store(&mut self, store: u64) {
        self.by_store.remove(&store);
    }

    /// Whether nothing waits on `store`.
    pub fn idle(&self, store: u64) -> bool {
        !self.by_store.contains_key(&store)
    }
}

/// Whether `[a, b)` and `[c, d)` share a key (empty end = +inf).
fn overlaps(a: &[u8], b: &[u8], c: &[u8], d: &[u8]) -> bool {
    (b.is_empty() || c < b) && (d.is_empty() || a < d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_store_waits_clear_when_the_ranges_are_taken() {
        let mut w = StoreWaits::default();
        w.wait(2, 1, b"b", b"d");
        w.wait(2, 1, b"f", b"");
        w.wait(3, 1, b"d", b"f");
        w.wait(2, 7, b"b", b"d");
        assert!(!w.idle(2) && !w.idle(3) && w.idle(1));
        assert_eq!(
            w.take_overlapping(1, b"a", b"c"),
            vec![2],
            "[b, d) overlaps"
        );
        assert!(!w.idle(2), "span 1's [f, +inf) and span 7 still wait");
        assert!(w.take_overlapping(1, b"d", b"e").contains(&3));
        assert!(w.idle(3));
        assert!(
            w.take_overlapping(1, b"a", b"b").is_empty(),
            "touching only"
        );
        assert_eq!(w.take_overlapping(1, b"z", b""), vec![2]);
        assert_eq!(w.remove_span(7), vec![2]);
        assert!(w.idle(2));
        w.wait(4, 1, b"", b"");
        w.clear_store(4);
        assert!(w.idle(4));
    }

    #[test]
    fn upstream_store_waits_overlap_with_open_ends() {
        assert!(overlaps(b"", b"", b"x", b"y"));
        assert!(overlaps(b"a", b"", b"x", b""));
        assert!(!overlaps(b"a", b"c", b"c", b""));
        assert!(!overlaps(b"c", b"", b"a", b"c"));
        assert!(overlaps(b"a", b"c", b"b", b"b\x00"));
    }
}
