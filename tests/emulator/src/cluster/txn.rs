//! Transactions on the model as TiKV runs them: pessimistic locks, 2PC (prewrite, commit,
//! rollback), async commit resolved from its locks' `min_commit_ts`, 1PC, and lock rewrites
//! (TTL heartbeats, `min_commit_ts` pushes).
//!
//! Guarantees: conflicts are checked as TiKV does (another lock, a newer commit); each
//! region's share of a request is one raft command, so one CDC event per region; keys are
//! grouped by the region whose leader store is up, otherwise the request fails as unavailable.

use std::collections::BTreeMap;

use super::{ByRegion, Model, hexk};
use crate::feed;
use crate::mvcc::{Lock, LockKind, SHORT_VALUE_MAX_LEN, Write, WriteKind};

/// Errors of transactional operations on the model.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TxnError {
    /// Another transaction holds a lock on the key.
    #[error("key {key} is locked by transaction {start_ts}")]
    KeyIsLocked {
        /// Hex of the key.
        key: String,
        /// Lock owner.
        start_ts: u64,
    },
    /// A newer version was committed after the transaction started.
    #[error("write conflict on key {key}: committed at {commit_ts}")]
    WriteConflict {
        /// Hex of the key.
        key: String,
        /// Conflicting commit ts.
        commit_ts: u64,
    },
    /// Commit or rollback of a key the transaction does not lock.
    #[error("transaction {start_ts} holds no lock on key {key}")]
    LockNotFound {
        /// Hex of the key.
        key: String,
        /// Transaction.
        start_ts: u64,
    },
    /// Commit ts below start ts or min commit ts.
    #[error("commit ts {commit_ts} is invalid for transaction {start_ts}")]
    BadCommitTs {
        /// Transaction.
        start_ts: u64,
        /// Requested commit ts.
        commit_ts: u64,
    },
    /// No region covers the key or its leader store is down.
    #[error("key {0} has no available region")]
    Unavailable(String),
}

/// A change inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MutationOp {
    /// Write a value.
    Put(Vec<u8>),
    /// Delete the key.
    Delete,
    /// Lock the key without changing it.
    Lock,
}

/// One key change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// Raw key.
    pub key: Vec<u8>,
    /// Change.
    pub op: MutationOp,
}

/// Options of a prewrite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrewriteOptions {
    /// Async commit: locks carry a `min_commit_ts`, commit ts derived from them.
    pub async_commit: bool,
    /// Pessimistic for-update ts (0 = optimistic).
    pub for_update_ts: u64,
    /// `txn_source` written with the rows.
    pub txn_source: u64,
    /// Lock TTL in ms; 0 = TiDB's default of 3000 ms (`ManagedLockTTL`).
    pub lock_ttl: u64,
}

/// TTL of a lock when the prewrite names none (TiDB's `ManagedLockTTL`, 3 s).
pub const DEFAULT_LOCK_TTL_MS: u64 = 3000;

impl Model {
    fn group_by_region<T>(&self, items: Vec<(Vec<u8>, T)>) -> Result<ByRegion<T>, TxnError> {
        let mut out: ByRegion<T> = BTreeMap::new();
        for (k, t) in items {
            let r = self
                .topo
                .region_for_raw(&k)
                .filter(|r| self.topo.stores.get(&r.leader_store).is_some_and(|s| s.up))
                .ok_or_else(|| TxnError::Unavailable(hexk(&k)))?;
            out.entry(r.id).or_default().push((k, t));
        }
        Ok(out)
    }

    /// [`Model::group_by_region`] for the mutations of a request.
    fn group_mutations(&self, mutations: &[Mutation]) -> Result<ByRegion<MutationOp>, TxnError> {
        self.group_by_region(
            mutations
                .iter()
                .map(|m| (m.key.clone(), m.op.clone()))
                .collect(),
        )
    }

    // ----- transactions ------------------------------------------------------

    /// A fresh timestamp (transaction start ts or commit ts).
    pub fn next_ts(&mut self) -> u64 {
        self.tso.next_ts()
    }

    fn check_conflict(
        &self,
        key: &[u8],
        start_ts: u64,
        conflict_after: u64,
    ) -> Result<(), TxnError> {
        if let Some(d) = self.mvcc.get(key) {
            if let Some(l) = &d.lock
                && l.start_ts != start_ts
            {
                return Err(TxnError::KeyIsLocked {
                    key: hexk(key),
                    start_ts: l.start_ts,
                });
            }
            if let Some(w) = d
                .writes
                .iter()
                .find(|w| w.commit_ts > conflict_after && w.kind != WriteKind::Rollback)
            {
                return Err(TxnError::WriteConflict {
                    key: hexk(key),
                    commit_ts: w.commit_ts,
                });
            }
        }
        Ok(())
    }

    /// Acquire pessimistic locks (invisible to CDC).
    pub fn pessimistic_lock(
        &mut self,
        start_ts: u64,
        for_update_ts: u64,
        primary: &[u8],
        keys: &[Vec<u8>],
    ) -> Result<(), TxnError> {
        for k in keys {
            self.check_conflict(k, start_ts, for_update_ts)?;
        }
        let _ = self.group_by_region(keys.iter().map(|k| (k.clone(), ())).collect())?;
        for k in keys {
            self.mvcc.entry(k).lock = Some(Lock {
                kind: LockKind::Pessimistic,
                start_ts,
                primary: primary.to_vec(),
                value: None,
                for_update_ts,
                min_commit_ts: 0,
                ttl: 3000,
                async_commit: false,
                txn_source: 0,
            });
        }
        Ok(())
    }

    /// Prewrite mutations; each region's share is one raft command (one event).
    pub fn prewrite(
        &mut self,
        start_ts: u64,
        primary: &[u8],
        mutations: &[Mutation],
        opts: PrewriteOptions,
    ) -> Result<(), TxnError> {
        let conflict_after = if opts.for_update_ts > 0 {
            opts.for_update_ts
        } else {
            start_ts
        };
        for m in mutations {
            self.check_conflict(&m.key, start_ts, conflict_after)?;
        }
        let groups = self.group_mutations(mutations)?;
        let min_commit_ts = if opts.async_commit {
            self.max_ts.max(start_ts).max(opts.for_update_ts) + 1
        } else {
            start_ts + 1
        };
        for (region, muts) in groups {
            let mut rows = Vec::new();
            for (k, op) in muts {
                let read_ts = start_ts.max(opts.for_update_ts);
                let old = self
                    .mvcc
                    .get(&k)
                    .and_then(|d| d.visible(read_ts).map(|x| x.0.to_vec()))
                    .unwrap_or_default();
                let (kind, value) = match op {
                    MutationOp::Put(v) => (LockKind::Put, Some(v)),
                    MutationOp::Delete => (LockKind::Delete, None),
                    MutationOp::Lock => (LockKind::Lock, None),
                };
                match kind {
                    LockKind::Put => rows.push(feed::prewrite_row(
                        &k,
                        start_ts,
                        false,
                        value.clone().unwrap_or_default(),
                        old,
                        opts.txn_source,
                    )),
                    LockKind::Delete => rows.push(feed::prewrite_row(
                        &k,
                        start_ts,
                        true,
                        Vec::new(),
                        old,
                        opts.txn_source,
                    )),
                    LockKind::Pessimistic | LockKind::Lock => {}
                }
                self.mvcc.entry(&k).lock = Some(Lock {
                    kind,
                    start_ts,
                    primary: primary.to_vec(),
                    value,
                    for_update_ts: opts.for_update_ts,
                    min_commit_ts,
                    ttl: if opts.lock_ttl == 0 {
                        DEFAULT_LOCK_TTL_MS
                    } else {
                        opts.lock_ttl
                    },
                    async_commit: opts.async_commit,
                    txn_source: opts.txn_source,
                });
            }
            self.emit(region, &rows);
        }
        Ok(())
    }

    /// Commit keys of a prewritten transaction; each region's share is one
    /// command. Keys already committed by this transaction are skipped.
    pub fn commit(
        &mut self,
        start_ts: u64,
        commit_ts: u64,
        keys: &[Vec<u8>],
    ) -> Result<(), TxnError> {
        if commit_ts <= start_ts {
            return Err(TxnError::BadCommitTs {
                start_ts,
                commit_ts,
            });
        }
        let mut todo = Vec::new();
        for k in keys {
            let d = self.mvcc.get(k);
            match d.and_then(|d| d.lock.as_ref()) {
                Some(l) if l.start_ts == start_ts && l.kind != LockKind::Pessimistic => {
                    if commit_ts < l.min_commit_ts {
                        return Err(TxnError::BadCommitTs {
                            start_ts,
                            commit_ts,
                        });
                    }
                    todo.push((k.clone(), ()));
                }
                _ => {
                    let committed = d.is_some_and(|d| {
                        d.writes
                            .iter()
                            .any(|w| w.start_ts == start_ts && w.kind != WriteKind::Rollback)
                    });
                    if !committed {
                        return Err(TxnError::LockNotFound {
                            key: hexk(k),
                            start_ts,
                        });
                    }
                }
            }
        }
        let groups = self.group_by_region(todo)?;
        self.tso.observe(commit_ts);
        for (region, ks) in groups {
            let mut rows = Vec::new();
            for (k, ()) in ks {
                let Some(lock) = self.mvcc.entry(&k).lock.take() else {
                    continue;
                };
                let kind = match lock.kind {
                    LockKind::Put => WriteKind::Put,
                    LockKind::Delete => WriteKind::Delete,
                    LockKind::Lock | LockKind::Pessimistic => WriteKind::Lock,
                };
                match kind {
                    WriteKind::Put | WriteKind::Delete => {
                        let v = lock.value.clone().unwrap_or_default();
                        let short = if v.len() <= SHORT_VALUE_MAX_LEN {
                            v
                        } else {
                            Vec::new()
                        };
                        rows.push(feed::commit_row(
                            &k,
                            start_ts,
                            commit_ts,
                            kind == WriteKind::Delete,
                            short,
                            lock.txn_source,
                        ));
                    }
                    WriteKind::Rollback | WriteKind::Lock => {}
                }
                self.mvcc.put_write(
                    &k,
                    Write {
                        kind,
                        start_ts,
                        commit_ts,
                        value: lock.value,
                        txn_source: lock.txn_source,
                    },
                );
            }
            self.emit(region, &rows);
        }
        Ok(())
    }

    /// Roll back keys: remove this transaction's locks and write Rollback records.
    pub fn rollback(&mut self, start_ts: u64, keys: &[Vec<u8>]) -> Result<(), TxnError> {
        let groups = self.group_by_region(keys.iter().map(|k| (k.clone(), ())).collect())?;
        for (region, ks) in groups {
            let mut rows = Vec::new();
            for (k, ()) in ks {
                let d = self.mvcc.entry(&k);
                let mut source = 0;
                if d.lock.as_ref().is_some_and(|l| l.start_ts == start_ts) {
                    source = d.lock.as_ref().map_or(0, |l| l.txn_source);
                    d.lock = None;
                }
                self.mvcc.put_write(
                    &k,
                    Write {
                        kind: WriteKind::Rollback,
                        start_ts,
                        commit_ts: start_ts,
                        value: None,
                        txn_source: source,
                    },
                );
                rows.push(feed::rollback_row(&k, start_ts, source));
            }
            self.emit(region, &rows);
        }
        Ok(())
    }

    /// Commit an async-commit transaction as a lock resolver would: the commit ts
    /// is the maximum `min_commit_ts` over its locks. Returns the commit ts.
    pub fn resolve_async_commit(&mut self, start_ts: u64) -> Result<u64, TxnError> {
        let locked: Vec<(Vec<u8>, u64)> = self
            .mvcc
            .range(&[], &[])
            .filter_map(|(k, d)| {
                d.lock
                    .as_ref()
                    .filter(|l| l.start_ts == start_ts)
                    .map(|l| (k.clone(), l.min_commit_ts))
            })
            .collect();
        let Some(commit_ts) = locked.iter().map(|x| x.1).max() else {
            return Err(TxnError::LockNotFound {
                key: String::new(),
                start_ts,
            });
        };
        let keys: Vec<Vec<u8>> = locked.into_iter().map(|x| x.0).collect();
        self.commit(start_ts, commit_ts, &keys)?;
        Ok(commit_ts)
    }

    /// Commit mutations in one phase: COMMITTED rows only. Returns `(start, commit)`.
    pub fn one_pc(
        &mut self,
        mutations: &[Mutation],
        txn_source: u64,
    ) -> Result<(u64, u64), TxnError> {
        let start_ts = self.next_ts();
        for m in mutations {
            self.check_conflict(&m.key, start_ts, start_ts)?;
        }
        let commit_ts = self.next_ts();
        let groups = self.group_mutations(mutations)?;
        for (region, muts) in groups {
            let mut rows = Vec::new();
            for (k, op) in muts {
                let old = self
                    .mvcc
                    .get(&k)
                    .and_then(|d| d.visible(commit_ts - 1).map(|x| x.0.to_vec()))
                    .unwrap_or_default();
                let (kind, value) = match op {
                    MutationOp::Put(v) => (WriteKind::Put, Some(v)),
                    MutationOp::Delete => (WriteKind::Delete, None),
                    MutationOp::Lock => (WriteKind::Lock, None),
                };
                if kind != WriteKind::Lock {
                    rows.push(feed::committed_row(
                        &k,
                        start_ts,
                        commit_ts,
                        kind == WriteKind::Delete,
                        value.clone().unwrap_or_default(),
                        old,
                        txn_source,
                    ));
                }
                self.mvcc.put_write(
                    &k,
                    Write {
                        kind,
                        start_ts,
                        commit_ts,
                        value,
                        txn_source,
                    },
                );
            }
            self.emit(region, &rows);
        }
        Ok((start_ts, commit_ts))
    }

    /// Rewrite an existing lock (TTL heartbeat / `min_commit_ts` push by
    /// `check_txn_status`). A rewritten Put lock carries no value in the command
    /// and produces nothing; a rewritten Delete lock is re-sent as a "fake
    /// prewrite" (DELETE, empty value).
    pub fn rewrite_lock(&mut self, key: &[u8]) -> Result<(), TxnError> {
        let region = self
            .topo
            .region_for_raw(key)
            .map(|r| r.id)
            .ok_or_else(|| TxnError::Unavailable(hexk(key)))?;
        // A reader pushing the lock: min_commit_ts moves past a fresh ts.
        let pushed = self.next_ts() + 1;
        self.tso.observe(pushed);
        let d = self.mvcc.entry(key);
        let Some(lock) = d.lock.as_mut() else {
            return Err(TxnError::LockNotFound {
                key: hexk(key),
                start_ts: 0,
            });
        };
        lock.ttl += 3000;
        lock.min_commit_ts = lock.min_commit_ts.max(pushed);
        self.emit_lock_rewrite(region, key);
        Ok(())
    }

    /// What a rewritten lock of `key` (in `region`) sends to CDC: nothing for a Put lock
    /// (the command carries no value), a fake prewrite (DELETE, empty value) for a Delete lock.
    pub(super) fn emit_lock_rewrite(&mut self, region: u64, key: &[u8]) {
        let Some(d) = self.mvcc.get(key) else {
            return;
        };
        let Some(lock) = d.lock.clone() else {
            return;
        };
        if lock.kind == LockKind::Delete {
            let old = d
                .visible(lock.start_ts.max(lock.for_update_ts))
                .map(|x| x.0.to_vec())
                .unwrap_or_default();
            let rows = [feed::prewrite_row(
                key,
                lock.start_ts,
                true,
                Vec::new(),
                old,
                lock.txn_source,
            )];
            self.emit(region, &rows);
        }
    }
}
