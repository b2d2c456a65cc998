//! Acknowledgement tracking: per table, the highest commit ts whose messages — and all
//! messages before them — Kafka has acknowledged. The checkpoint is built on it.
//!
//! Contract: for each table, messages are submitted in commit-ts order (the sorter
//! guarantees it), each submission returns a [`Ticket`] that is acked exactly once when
//! Kafka confirms the message, and [`AckTracker::resolve`] says that every message with a
//! commit ts at or below a bound has been submitted. A table's progress is then the bound,
//! lowered to just below the oldest commit ts still waiting for Kafka.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A table's identity for progress tracking (TiDB's logical table id).
pub type TableId = i64;

/// Proof of one submitted message; ack it once Kafka confirmed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub table: TableId,
    pub commit_ts: u64,
}

#[derive(Debug, Default)]
struct TableProgress {
    /// commit ts → messages submitted and not yet acknowledged.
    pending: BTreeMap<u64, usize>,
    /// Every message with commit ts ≤ this has been submitted.
    resolved: u64,
}

/// Shared by the encoder (submit, resolve), the Kafka writers (ack) and the checkpoint
/// (progress). Cloning shares the state.
#[derive(Debug, Clone, Default)]
pub struct AckTracker {
    inner: Arc<Mutex<HashMap<TableId, TableProgress>>>,
    /// Tickets acknowledged since the start, for telling a stalled output from a slow one.
    acked: Arc<AtomicU64>,
}

impl AckTracker {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<TableId, TableProgress>> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Registers a table starting from `start_ts` (its checkpoint): progress is at least
    /// that.
    pub fn register(&self, table: TableId, start_ts: u64) {
        let mut m = self.lock();
        let t = m.entry(table).or_default();
        t.resolved = t.resolved.max(start_ts);
    }

    /// Records one message about to be sent.
    pub fn submit(&self, table: TableId, commit_ts: u64) -> Ticket {
        *self
            .lock()
            .entry(table)
            .or_default()
            .pending
            .entry(commit_ts)
            .or_insert(0) += 1;
        Ticket { table, commit_ts }
    }

    /// Records messages of `table` about to be sent, one per commit ts given, under one
    /// lock; each is acked with `Ticket { table, commit_ts }`. Runs of one commit ts (a
    /// transaction's rows) take one map update.
    pub fn submit_many(&self, table: TableId, commit_ts: impl IntoIterator<Item = u64>) {
        let mut m = self.lock();
        let pending = &mut m.entry(table).or_default().pending;
        let mut run: Option<(u64, usize)> = None;
        for ts in commit_ts {
            match &mut run {
                Some((t, n)) if *t == ts => *n += 1,
                _ => {
                    if let Some((t, n)) = run.replace((ts, 1)) {
                        *pending.entry(t).or_insert(0) += n;
                    }
                }
            }
        }
        if let Some((t, n)) = run {
            *pending.entry(t).or_insert(0) += n;
        }
    }

    /// Kafka acknowledged the messages of `tickets`.
    pub fn ack(&self, tickets: &[Ticket]) {
        self.acked
            .fetch_add(tickets.len() as u64, Ordering::Relaxed);
        let mut m = self.lock();
        // Runs of one ticket (a transaction's rows in one batch) take one map update.
        for run in tickets.chunk_by(|a, b| a == b) {
            let t = run[0];
            if let Some(p) = m.get_mut(&t.table)
                && let Some(n) = p.pending.get_mut(&t.commit_ts)
            {
                *n = n.saturating_sub(run.len());
                if *n == 0 {
                    p.pending.remove(&t.commit_ts);
                }
            }
        }
    }

    /// Stops tracking `table` (dropped or no longer replicated); its acknowledged progress
    /// no longer holds the checkpoint back.
    pub fn remove(&self, table: TableId) {
        self.lock().remove(&table);
    }

    /// Every message of `table` with commit ts ≤ `ts` has been submitted.
    pub fn resolve(&self, table: TableId, ts: u64) {
        let mut m = self.lock();
        let t = m.entry(table).or_default();
        t.resolved = t.resolved.max(ts);
    }

    /// The highest ts such that every message of `table` at or below it is acknowledged.
    pub fn progress(&self, table: TableId) -> Option<u64> {
        self.lock().get(&table).map(table_progress)
    }

    /// The least progress over every registered table (the changefeed checkpoint), or
    /// `None` when no table is registered.
    pub fn checkpoint(&self) -> Option<u64> {
        self.lock().values().map(table_progress).min()
    }

    /// Tickets acknowledged since the tracker was made; it only grows.
    pub fn acked_total(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Messages submitted and not yet acknowledged, over all tables.
    pub fn in_flight(&self) -> usize {
        self.lock()
            .values()
            .map(|t| t.pending.values().sum::<usize>())
            .sum()
    }
}

fn table_progress(t: &TableProgress) -> u64 {
    match t.pending.keys().next() {
        Some(&oldest) => t.resolved.min(oldest.saturating_sub(1)),
        None => t.resolved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_waits_for_the_oldest_unacknowledged_message() {
        let a = AckTracker::new();
        a.register(1, 100);
        assert_eq!(a.progress(1), Some(100));
        let t1 = a.submit(1, 110);
        let t2 = a.submit(1, 120);
        let t3 = a.submit(1, 120);
        a.resolve(1, 130);
        assert_eq!(a.progress(1), Some(109));
        a.ack(&[t2, t3]);
        assert_eq!(a.progress(1), Some(109), "120 is acked but 110 is not");
        a.ack(&[t1]);
        assert_eq!(a.progress(1), Some(130));
        assert_eq!(a.in_flight(), 0);
    }

    #[test]
    fn progress_never_passes_what_was_submitted() {
        let a = AckTracker::new();
        a.register(7, 50);
        let t = a.submit(7, 60);
        a.ack(&[t]);
        assert_eq!(a.progress(7), Some(50), "not resolved past 50 yet");
        a.resolve(7, 60);
        assert_eq!(a.progress(7), Some(60));
    }

    #[test]
    fn checkpoint_is_the_slowest_table() {
        let a = AckTracker::new();
        a.register(1, 10);
        a.register(2, 20);
        let _pending = a.submit(2, 25);
        a.resolve(1, 40);
        a.resolve(2, 40);
        assert_eq!(a.checkpoint(), Some(24));
    }

    #[test]
    fn runs_of_one_commit_ts_count_every_message() {
        let a = AckTracker::new();
        a.register(3, 100);
        a.submit_many(3, [110, 110, 110, 120, 110]);
        a.resolve(3, 130);
        assert_eq!(a.in_flight(), 5);
        let t = |commit_ts| Ticket {
            table: 3,
            commit_ts,
        };
        a.ack(&[t(110), t(110), t(120)]);
        assert_eq!(a.progress(3), Some(109), "two messages at 110 still wait");
        a.ack(&[t(110)]);
        assert_eq!(a.progress(3), Some(109), "one message at 110 still waits");
        a.ack(&[t(110)]);
        assert_eq!(a.progress(3), Some(130));
        assert_eq!(a.in_flight(), 0);
    }
}
