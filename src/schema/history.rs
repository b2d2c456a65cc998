//! A value's versions over time: `(ts, Some(value))` from a DDL's finished ts on,
//! `(ts, None)` once dropped.
//!
//! Guarantees: versions are kept in ts order; two writes at one ts leave the last one (a job
//! that drops and re-creates an id in one step); a read at ts sees the newest version whose
//! ts ≤ ts; [`History::gc`] keeps exactly what reads at or above its bound can see.

/// Versions of one entity (a table, a physical id, a schema).
#[derive(Debug, Clone)]
pub(crate) struct History<T> {
    versions: Vec<(u64, Option<T>)>,
}

impl<T: Clone> History<T> {
    pub(crate) fn new() -> Self {
        History {
            versions: Vec::new(),
        }
    }

    /// Records the state from `ts` on. `ts` must not be below the newest version's.
    pub(crate) fn set(&mut self, ts: u64, value: Option<T>) {
        match self.versions.last_mut() {
            Some((last, v)) if *last == ts => *v = value,
            _ => self.versions.push((ts, value)),
        }
    }

    /// The state at `ts`: `None` before the first version or while dropped.
    pub(crate) fn at(&self, ts: u64) -> Option<&T> {
        let i = self.versions.partition_point(|(t, _)| *t <= ts);
        i.checked_sub(1)
            .and_then(|i| self.versions.get(i))
            .and_then(|(_, v)| v.as_ref())
    }

    /// The newest state.
    pub(crate) fn latest(&self) -> Option<&T> {
        self.versions.last().and_then(|(_, v)| v.as_ref())
    }

    /// Drops versions no read at ts ≥ `below` can see; returns whether nothing is left that
    /// such a read could see (the entity can be forgotten).
    pub(crate) fn gc(&mut self, below: u64) -> bool {
        let visible = self.versions.partition_point(|(t, _)| *t <= below);
        if visible > 1 {
            self.versions.drain(..visible - 1);
        }
        matches!(self.versions.as_slice(), [(t, None)] if *t <= below) || self.versions.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.versions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gc_and_same_ts_writes() {
        let mut h = History::new();
        h.set(10, Some("a"));
        h.set(20, Some("b"));
        h.set(30, None);
        assert_eq!(h.at(9), None);
        assert_eq!(h.at(10), Some(&"a"));
        assert_eq!(h.at(19), Some(&"a"));
        assert_eq!(h.at(20), Some(&"b"));
        assert_eq!(h.at(30), None);
        h.set(30, Some("c"));
        assert_eq!((h.at(30), h.len()), (Some(&"c"), 3));
        assert!(!h.gc(25));
        assert_eq!((h.len(), h.at(25), h.at(31)), (2, Some(&"b"), Some(&"c")));
        h.set(40, None);
        assert!(!h.gc(39));
        assert!(h.gc(40));
    }
}
