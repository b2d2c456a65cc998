//! The span registry of a feed: each span added gets an id, its `start_ts` and one
//! frontier over its regions. A span is present at most once (adding it again is refused),
//! and every key range registered for a span is clipped to the span, so overlapping spans
//! each see exactly their own part of a region.

use std::collections::HashMap;

use super::Span;
use crate::upstream::frontier::SpanFrontier;

/// One span being replicated.
pub(super) struct SpanState {
    pub span: Span,
    /// Rows with `commit_ts` at or below it are not delivered; regions without a resolved ts
    /// of their own resume from it.
    pub start_ts: u64,
    pub frontier: SpanFrontier,
}

impl SpanState {
    /// Encoded `[start, end)` ∩ this span.
    pub fn clip(&self, start: &[u8], end: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (
            max_start(start, &self.span.start),
            min_end(end, &self.span.end),
        )
    }
}

/// The spans of a feed by id and by range.
pub(super) struct Spans {
    by_id: HashMap<u64, SpanState>,
    ids: HashMap<Span, u64>,
    next_id: u64,
}

impl Spans {
    pub fn new() -> Self {
        Spans {
            by_id: HashMap::new(),
            ids: HashMap::new(),
            next_id: 1,
        }
    }

    /// Adds `span` with a frontier at `start_ts`; `None` when it is already present.
    pub fn add(&mut self, span: Span, start_ts: u64) -> Option<u64> {
        if self.ids.contains_key(&span) {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.ids.insert(span.clone(), id);
        self.by_id.insert(
            id,
            SpanState {
                frontier: SpanFrontier::new(span.start.clone(), span.end.clone(), start_ts),
                span,
                start_ts,
            },
        );
        Some(id)
    }

    /// Forgets `span`; returns its id, `None` when unknown.
    pub fn remove(&mut self, span: &Span) -> Option<u64> {
        let id = self.ids.remove(span)?;
        self.by_id.remove(&id);
        Some(id)
    }

    pub fn get(&self, id: u64) -> Option<&SpanState> {
        self.by_id.get(&id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut SpanState> {
        self.by_id.get_mut(&id)
    }

    /// Where a region of a span resumes after it was dropped: its own resolved ts, else the
    /// span's start; `None` when the span is gone.
    pub fn resume_ts(&self, span_id: u64, region_id: u64) -> Option<u64> {
        let sp = self.by_id.get(&span_id)?;
        Some(sp.frontier.region_ts(region_id).unwrap_or(sp.start_ts))
    }
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
}
