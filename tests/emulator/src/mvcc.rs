//! The MVCC model: write records and locks per raw key, as TiKV keeps them in its
//! write and lock column families.
//!
//! Owns versioned data only (no regions, no subscribers). Guarantees: write
//! records of a key are kept newest-first by commit ts; at most one lock per key;
//! reads follow TiKV's snapshot-isolation rules (a Put/Delete lock with
//! `start_ts <= read_ts` and `min_commit_ts <= read_ts` blocks the read; pessimistic
//! and `Lock`-type locks never do); GC keeps the newest version at or below the
//! safe point and drops everything older.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

/// Values up to this many bytes are "short" and stored inline in the lock/write
/// record (TiKV `SHORT_VALUE_MAX_LEN`); live COMMIT rows carry only short values.
pub const SHORT_VALUE_MAX_LEN: usize = 255;

/// Lock type (TiKV `LockType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// Prewrite of a put.
    Put,
    /// Prewrite of a delete.
    Delete,
    /// Pessimistic lock (acquired before prewrite); invisible to CDC.
    Pessimistic,
    /// `SELECT … FOR UPDATE`-style lock without a change; invisible to CDC.
    Lock,
}

/// One lock in the lock CF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// Lock type.
    pub kind: LockKind,
    /// Transaction start ts.
    pub start_ts: u64,
    /// Primary key of the transaction (raw).
    pub primary: Vec<u8>,
    /// Value being written (Put locks); `None` for other kinds.
    pub value: Option<Vec<u8>>,
    /// Pessimistic for-update ts (0 for optimistic).
    pub for_update_ts: u64,
    /// Minimum commit ts (async commit / pushed by readers).
    pub min_commit_ts: u64,
    /// Lock TTL in ms.
    pub ttl: u64,
    /// Whether the transaction uses async commit.
    pub async_commit: bool,
    /// `txn_source` of the writing transaction.
    pub txn_source: u64,
}

/// Write record type (TiKV `WriteType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// A committed put.
    Put,
    /// A committed delete.
    Delete,
    /// A rollback marker (commit ts = start ts).
    Rollback,
    /// A committed `Lock` (no data change).
    Lock,
}

/// One record in the write CF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// Record type.
    pub kind: WriteKind,
    /// Start ts of the transaction.
    pub start_ts: u64,
    /// Commit ts (= start ts for rollbacks).
    pub commit_ts: u64,
    /// Value for Put records.
    pub value: Option<Vec<u8>>,
    /// `txn_source` of the writing transaction.
    pub txn_source: u64,
}

/// All MVCC state of one key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyData {
    /// The current lock, if any.
    pub lock: Option<Lock>,
    /// Write records, newest commit ts first.
    pub writes: Vec<Write>,
}

impl KeyData {
    /// Value visible at `ts` ignoring locks: newest Put/Delete with `commit_ts <= ts`.
    #[must_use]
    pub fn visible(&self, ts: u64) -> Option<(&[u8], u64)> {
        self.writes
            .iter()
            .filter(|w| w.commit_ts <= ts)
            .find(|w| matches!(w.kind, WriteKind::Put | WriteKind::Delete))
            .and_then(|w| match w.kind {
                WriteKind::Put => Some((w.value.as_deref().unwrap_or_default(), w.commit_ts)),
                _ => None,
            })
    }

    /// The lock that blocks a snapshot read at `ts`, if any.
    #[must_use]
    pub fn blocking_lock(&self, ts: u64) -> Option<&Lock> {
        self.lock.as_ref().filter(|l| {
            matches!(l.kind, LockKind::Put | LockKind::Delete)
                && l.start_ts <= ts
                && l.min_commit_ts <= ts
        })
    }
}

/// The versioned key space of the whole emulated cluster, keyed by raw key.
/// Regions are ranges over it (see `cluster`).
#[derive(Debug, Default)]
pub struct Mvcc {
    keys: BTreeMap<Vec<u8>, KeyData>,
    /// Keys that may hold a lock: every key handed out by [`Mvcc::entry`] since the last
    /// [`Mvcc::prune_lock_candidates`] (locks are only set through `entry`). Lets the
    /// resolved-ts round look at locks without scanning every key.
    lock_candidates: BTreeSet<Vec<u8>>,
}

/// Error of a snapshot read: the key is locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    /// Raw key.
    pub key: Vec<u8>,
    /// The lock.
    pub lock: Lock,
}

impl Mvcc {
    /// State of one key.
    #[must_use]
    pub fn get(&self, key: &[u8]) -> Option<&KeyData> {
        self.keys.get(key)
    }

    /// Mutable state of one key, created if absent.
    pub fn entry(&mut self, key: &[u8]) -> &mut KeyData {
        if !self.lock_candidates.contains(key) {
            self.lock_candidates.insert(key.to_vec());
        }
        self.keys.entry(key.to_vec()).or_default()
    }

    /// Forgets the lock candidates that hold no lock any more.
    pub fn prune_lock_candidates(&mut self) {
        let keys = &self.keys;
        self.lock_candidates
            .retain(|k| keys.get(k).is_some_and(|d| d.lock.is_some()));
    }

    /// The locks of raw keys in `[start, end)` (empty end = +inf), in key order.
    pub fn locks_in<'a>(
        &'a self,
        start: &[u8],
        end: &[u8],
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Lock)> + 'a {
        let upper = if end.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Excluded(end.to_vec())
        };
        self.lock_candidates
            .range((Bound::Included(start.to_vec()), upper))
            .filter_map(|k| Some((k, self.keys.get(k)?.lock.as_ref()?)))
    }

    /// Iterate raw keys in `[start, end)` (empty end = +inf) in key order.
    pub fn range<'a>(
        &'a self,
        start: &[u8],
        end: &[u8],
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a KeyData)> + 'a {
        let upper = if end.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Excluded(end.to_vec())
        };
        self.keys.range((Bound::Included(start.to_vec()), upper))
    }

    /// Snapshot read of one key at `ts`: value and commit ts, or the blocking lock.
    pub fn read(&self, key: &[u8], ts: u64) -> Result<Option<(Vec<u8>, u64)>, Locked> {
        let Some(d) = self.keys.get(key) else {
            return Ok(None);
        };
        if let Some(lock) = d.blocking_lock(ts) {
            return Err(Locked {
                key: key.to_vec(),
                lock: lock.clone(),
            });
        }
        Ok(d.visible(ts).map(|(v, c)| (v.to_vec(), c)))
    }

    /// Append a write record keeping newest-first order.
    pub fn put_write(&mut self, key: &[u8], w: Write) {
        // Not through `entry`: a write record sets no lock.
        let d = self.keys.entry(key.to_vec()).or_default();
        let pos = d
            .writes
            .iter()
            .position(|x| x.commit_ts < w.commit_ts)
            .unwrap_or(d.writes.len());
        d.writes.insert(pos, w);
    }

    /// GC at `safe_point`: per key keep the newest Put at or below the safe point
    /// (a Delete there removes the key's history), drop every older record and all
    /// Rollback/Lock records at or below it.
    pub fn gc(&mut self, safe_point: u64) {
        for d in self.keys.values_mut() {
            let mut kept_base = false;
            d.writes.retain(|w| {
                if w.commit_ts > safe_point {
                    return true;
                }
                if kept_base {
                    return false;
                }
                match w.kind {
                    WriteKind::Put => {
                        kept_base = true;
                        true
                    }
                    WriteKind::Delete => {
                        kept_base = true;
                        false
                    }
                    WriteKind::Rollback | WriteKind::Lock => false,
                }
            });
        }
        self.keys
            .retain(|_, d| d.lock.is_some() || !d.writes.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(start: u64, commit: u64, v: &[u8]) -> Write {
        Write {
            kind: WriteKind::Put,
            start_ts: start,
            commit_ts: commit,
            value: Some(v.to_vec()),
            txn_source: 0,
        }
    }

    #[test]
    fn visibility_and_gc() {
        let mut m = Mvcc::default();
        m.put_write(b"k", put(1, 2, b"a"));
        m.put_write(b"k", put(5, 6, b"c"));
        m.put_write(b"k", put(3, 4, b"b"));
        let d = m.get(b"k").expect("key");
        assert_eq!(
            d.writes.iter().map(|w| w.commit_ts).collect::<Vec<_>>(),
            [6, 4, 2]
        );
        assert_eq!(d.visible(5).map(|x| x.0), Some(&b"b"[..]));
        assert_eq!(d.visible(1), None);
        m.gc(5);
        let d = m.get(b"k").expect("key");
        assert_eq!(
            d.writes.iter().map(|w| w.commit_ts).collect::<Vec<_>>(),
            [6, 4]
        );
    }

    #[test]
    fn locks_block_reads_per_si_rules() {
        let mut m = Mvcc::default();
        m.put_write(b"k", put(1, 2, b"a"));
        m.entry(b"k").lock = Some(Lock {
            kind: LockKind::Put,
            start_ts: 10,
            primary: b"k".to_vec(),
            value: Some(b"x".to_vec()),
            for_update_ts: 0,
            min_commit_ts: 11,
            ttl: 3000,
            async_commit: false,
            txn_source: 0,
        });
        assert_eq!(m.read(b"k", 9), Ok(Some((b"a".to_vec(), 2))));
        assert_eq!(
            m.read(b"k", 10).map(|_| ()).map_err(|e| e.lock.start_ts),
            Ok(())
        );
        assert!(m.read(b"k", 11).is_err());
        m.entry(b"k").lock.as_mut().expect("lock").kind = LockKind::Pessimistic;
        assert!(m.read(b"k", 11).is_ok());
    }
}
