//! Lock resolution as TiKV serves it to a lock resolver (client-go's, TiCDC's): scan the
//! locks of a range below a ts (`KvScanLock`), decide a transaction's fate from its primary
//! (`KvCheckTxnStatus`), and commit or roll back its locks in one region (`KvResolveLock`).
//!
//! Guarantees (TiKV `src/storage/txn/actions/check_txn_status.rs`, `commands/resolve_lock.rs`,
//! `commands/scan_lock.rs`): a primary lock expires when its start ts's physical time plus its
//! TTL is below `current_ts`'s physical time, and an expired primary is rolled back
//! (`TTLExpireRollback`, or `TTLExpirePessimisticRollback` for a pessimistic one); a live one
//! has its `min_commit_ts` pushed past `caller_start_ts` unless it uses async commit; without
//! a lock, the write records decide (committed → its commit ts, rolled back → 0), and a
//! transaction that left nothing is rolled back only when the caller asks
//! (`rollback_if_not_exist`), else `TxnNotFound`. Every commit and rollback goes through the
//! model's own transaction paths, so the CDC events (COMMIT, ROLLBACK) are derived, never
//! scripted.

use super::{Model, TxnError, hexk};
use crate::mvcc::{Lock, LockKind, WriteKind};
use crate::tso::physical_of;

/// What `check_txn_status` did (kvproto `kvrpcpb.Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnAction {
    /// Nothing changed.
    NoAction,
    /// The primary lock's TTL had expired: rolled back.
    TtlExpireRollback,
    /// No lock and no record: a rollback record was written.
    LockNotExistRollback,
    /// The live lock's `min_commit_ts` was pushed past the caller.
    MinCommitTsPushed,
    /// An expired pessimistic primary lock was removed.
    TtlExpirePessimisticRollback,
}

/// A transaction's status as its primary key tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnStatus {
    /// Remaining lock TTL in ms when still locked (then `commit_ts` is 0).
    pub lock_ttl: u64,
    /// Commit ts when committed; 0 when rolled back or locked.
    pub commit_ts: u64,
    /// What the check did.
    pub action: TxnAction,
    /// The primary lock when still locked.
    pub lock: Option<Lock>,
}

/// Errors of `check_txn_status`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckTxnError {
    /// Neither a lock nor a write record of the transaction on its primary.
    #[error("transaction {start_ts} not found on primary {key}")]
    TxnNotFound {
        /// Hex of the primary key.
        key: String,
        /// Transaction.
        start_ts: u64,
    },
    /// Applying the outcome failed.
    #[error(transparent)]
    Txn(#[from] TxnError),
}

impl Model {
    /// The locks of raw keys in `[start, end)` (empty end = +inf) with `start_ts <=
    /// max_version`, in key order, at most `limit` (0 = no limit). Every lock type is
    /// returned, as TiKV's `ScanLock` does.
    #[must_use]
    pub fn scan_locks(
        &self,
        start: &[u8],
        end: &[u8],
        max_version: u64,
        limit: usize,
    ) -> Vec<(Vec<u8>, Lock)> {
        let limit = if limit == 0 { usize::MAX } else { limit };
        self.mvcc
            .locks_in(start, end)
            .filter(|(_, l)| l.start_ts <= max_version)
            .take(limit)
            .map(|(k, l)| (k.clone(), l.clone()))
            .collect()
    }

    /// TiKV's `CheckTxnStatus` on the primary key of the transaction started at `lock_ts`.
    pub fn check_txn_status(
        &mut self,
        primary: &[u8],
        lock_ts: u64,
        caller_start_ts: u64,
        current_ts: u64,
        rollback_if_not_exist: bool,
    ) -> Result<TxnStatus, CheckTxnError> {
        self.max_ts = self.max_ts.max(caller_start_ts);
        let lock = self
            .mvcc
            .get(primary)
            .and_then(|d| d.lock.clone())
            .filter(|l| l.start_ts == lock_ts);
        if let Some(lock) = lock {
            let expired = physical_of(lock.start_ts)
                .saturating_add(i64::try_from(lock.ttl).unwrap_or(i64::MAX))
                < physical_of(current_ts);
            if expired {
                if lock.kind == LockKind::Pessimistic {
                    // A pessimistic lock leaves no rollback record and no CDC event.
                    self.mvcc.entry(primary).lock = None;
                    return Ok(rolled_back(TxnAction::TtlExpirePessimisticRollback));
                }
                self.rollback(lock_ts, &[primary.to_vec()])?;
                return Ok(rolled_back(TxnAction::TtlExpireRollback));
            }
            let mut action = TxnAction::NoAction;
            if !lock.async_commit
                && lock.kind != LockKind::Pessimistic
                && caller_start_ts != u64::MAX
                && caller_start_ts >= lock.min_commit_ts
            {
                if let Some(l) = self.mvcc.entry(primary).lock.as_mut() {
                    l.min_commit_ts = caller_start_ts + 1;
                }
                let region = self.topo.region_for_raw(primary).map(|r| r.id);
                if let Some(region) = region {
                    self.emit_lock_rewrite(region, primary);
                }
                action = TxnAction::MinCommitTsPushed;
            }
            let lock = self.mvcc.get(primary).and_then(|d| d.lock.clone());
            return Ok(TxnStatus {
                // Locked is told by a TTL above 0.
                lock_ttl: lock.as_ref().map_or(0, |l| l.ttl).max(1),
                commit_ts: 0,
                action,
                lock,
            });
        }
        let record = self.mvcc.get(primary).and_then(|d| {
            d.writes
                .iter()
                .find(|w| w.start_ts == lock_ts)
                .map(|w| (w.kind, w.commit_ts))
        });
        match record {
            Some((WriteKind::Rollback, _)) => Ok(rolled_back(TxnAction::NoAction)),
            Some((_, commit_ts)) => Ok(TxnStatus {
                lock_ttl: 0,
                commit_ts,
                action: TxnAction::NoAction,
                lock: None,
            }),
            None if rollback_if_not_exist => {
                // Protects the primary from a prewrite arriving late.
                self.rollback(lock_ts, &[primary.to_vec()])?;
                Ok(rolled_back(TxnAction::LockNotExistRollback))
            }
            None => Err(CheckTxnError::TxnNotFound {
                key: hexk(primary),
                start_ts: lock_ts,
            }),
        }
    }

    /// TiKV's `ResolveLock` in the raw range `[start, end)` of one region: every lock of the
    /// transaction `start_ts` there (only `keys` when not empty) is committed at `commit_ts`,
    /// or rolled back when `commit_ts` is 0. Returns how many locks were resolved.
    pub fn resolve_lock(
        &mut self,
        start: &[u8],
        end: &[u8],
        start_ts: u64,
        commit_ts: u64,
        keys: &[Vec<u8>],
    ) -> Result<usize, TxnError> {
        let locked: Vec<(Vec<u8>, LockKind)> = self
            .mvcc
            .locks_in(start, end)
            .filter(|(k, l)| l.start_ts == start_ts && (keys.is_empty() || keys.contains(k)))
            .map(|(k, l)| (k.clone(), l.kind))
            .collect();
        if locked.is_empty() {
            return Ok(0);
        }
        if commit_ts == 0 {
            let ks: Vec<Vec<u8>> = locked.into_iter().map(|x| x.0).collect();
            let n = ks.len();
            self.rollback(start_ts, &ks)?;
            return Ok(n);
        }
        // A pessimistic lock is never committed (its transaction did not prewrite it): it
        // is removed, as TiKV's resolve does with a lock that is not the transaction's.
        let mut ks = Vec::new();
        for (k, kind) in locked {
            if kind == LockKind::Pessimistic {
                self.mvcc.entry(&k).lock = None;
            } else {
                ks.push(k);
            }
        }
        let n = ks.len();
        self.commit(start_ts, commit_ts, &ks)?;
        Ok(n)
    }
}

fn rolled_back(action: TxnAction) -> TxnStatus {
    TxnStatus {
        lock_ttl: 0,
        commit_ts: 0,
        action,
        lock: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Cluster, Mutation, MutationOp, PrewriteOptions};
    use crate::mvcc::WriteKind;
    use crate::topology::{Region, StoreInfo, Topology};
    use crate::tso::compose;

    /// Two regions, `[, m)` (id 2) and `[m, )` (id 3), on one store.
    fn cluster() -> Cluster {
        let mut t = Topology::default();
        t.stores.insert(
            1,
            StoreInfo {
                id: 1,
                address: String::new(),
                version: "8.5.0".into(),
                tiflash: false,
                supports_v2: true,
                up: true,
                tombstone: false,
            },
        );
        for (id, start, end) in [(2u64, &b""[..], &b"m"[..]), (3, b"m", b"")] {
            t.insert_region(Region {
                id,
                start: start.to_vec(),
                end: end.to_vec(),
                conf_ver: 1,
                version: 1,
                peers: vec![(id + 10, 1, false)],
                leader_store: 1,
            });
        }
        Cluster::new(1, t)
    }

    fn put(k: &str, v: &str) -> Mutation {
        Mutation {
            key: k.as_bytes().to_vec(),
            op: MutationOp::Put(v.as_bytes().to_vec()),
        }
    }

    fn at_ms(ts: u64, ms: i64) -> u64 {
        compose(physical_of(ts) + ms, 0)
    }

    #[test]
    fn expired_primary_is_rolled_back_and_its_secondaries_with_it() {
        let c = cluster();
        let mut m = c.lock();
        let s = m.next_ts();
        let opts = PrewriteOptions {
            lock_ttl: 1000,
            ..Default::default()
        };
        m.prewrite(s, b"a", &[put("a", "1"), put("x", "2")], opts)
            .expect("prewrite");
        let locks = m.scan_locks(b"m", b"", s, 0);
        assert_eq!(locks.len(), 1, "the secondary in region 3");
        assert_eq!(locks[0].1.primary, b"a");
        assert!(m.scan_locks(b"m", b"", s - 1, 0).is_empty(), "max_version");

        // Not expired yet: locked, min_commit_ts pushed past the caller.
        let now = at_ms(s, 500);
        let st = m.check_txn_status(b"a", s, now, now, true).expect("status");
        assert_eq!(st.action, TxnAction::MinCommitTsPushed);
        assert!(st.lock_ttl > 0 && st.commit_ts == 0);
        assert_eq!(st.lock.map(|l| l.min_commit_ts), Some(now + 1));

        // Expired: rolled back, with a rollback record on the primary.
        let later = at_ms(s, 1001);
        let st = m
            .check_txn_status(b"a", s, later, later, true)
            .expect("status");
        assert_eq!(st.action, TxnAction::TtlExpireRollback);
        assert_eq!((st.lock_ttl, st.commit_ts), (0, 0));
        let d = m.key_data(b"a").expect("primary");
        assert!(d.lock.is_none());
        assert_eq!(d.writes[0].kind, WriteKind::Rollback);
        // Asked again: the record answers, nothing more is done.
        let st = m
            .check_txn_status(b"a", s, later, later, false)
            .expect("status");
        assert_eq!(
            (st.action, st.commit_ts, st.lock_ttl),
            (TxnAction::NoAction, 0, 0)
        );

        // The secondary is rolled back by resolving its region.
        assert_eq!(m.resolve_lock(b"m", b"", s, 0, &[]).expect("resolve"), 1);
        let d = m.key_data(b"x").expect("secondary");
        assert!(d.lock.is_none());
        assert_eq!(d.writes[0].kind, WriteKind::Rollback);
        assert!(m.scan_locks(b"", b"", u64::MAX, 0).is_empty());
    }

    #[test]
    fn committed_primary_commits_the_secondaries() {
        let c = cluster();
        let mut m = c.lock();
        let s = m.next_ts();
        m.prewrite(
            s,
            b"a",
            &[put("a", "1"), put("x", "2"), put("y", "3")],
            PrewriteOptions::default(),
        )
        .expect("prewrite");
        let commit = m.next_ts();
        m.commit(s, commit, &[b"a".to_vec()]).expect("primary");
        let now = at_ms(s, 60_000);
        let st = m.check_txn_status(b"a", s, now, now, true).expect("status");
        assert_eq!((st.commit_ts, st.action), (commit, TxnAction::NoAction));
        // Only the asked keys, then the rest.
        assert_eq!(
            m.resolve_lock(b"m", b"", s, commit, &[b"x".to_vec()])
                .expect("resolve"),
            1
        );
        assert_eq!(
            m.resolve_lock(b"m", b"", s, commit, &[]).expect("resolve"),
            1
        );
        for k in [&b"x"[..], b"y"] {
            let d = m.key_data(k).expect("key");
            assert!(d.lock.is_none());
            assert_eq!(
                (d.writes[0].kind, d.writes[0].commit_ts),
                (WriteKind::Put, commit)
            );
        }
    }

    #[test]
    fn missing_transaction_needs_rollback_if_not_exist() {
        let c = cluster();
        let mut m = c.lock();
        let s = m.next_ts();
        let now = at_ms(s, 10_000);
        assert!(matches!(
            m.check_txn_status(b"a", s, now, now, false),
            Err(CheckTxnError::TxnNotFound { .. })
        ));
        let st = m.check_txn_status(b"a", s, now, now, true).expect("status");
        assert_eq!(st.action, TxnAction::LockNotExistRollback);
        assert_eq!(
            m.key_data(b"a").map(|d| d.writes[0].kind),
            Some(WriteKind::Rollback)
        );
    }

    #[test]
    fn async_commit_lock_is_not_pushed() {
        let c = cluster();
        let mut m = c.lock();
        let s = m.next_ts();
        m.prewrite(
            s,
            b"a",
            &[put("a", "1")],
            PrewriteOptions {
                async_commit: true,
                ..Default::default()
            },
        )
        .expect("prewrite");
        let now = at_ms(s, 100);
        let st = m.check_txn_status(b"a", s, now, now, true).expect("status");
        assert_eq!(st.action, TxnAction::NoAction);
        assert!(st.lock_ttl > 0);
    }
}
