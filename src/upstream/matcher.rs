//! Prewrite/commit matching for one region subscription, as TiCDC's matcher does
//! (reference/upstream.md §1.11).
//!
//! Owns the PREWRITE rows not yet committed or rolled back, keyed by `(start_ts, key)`, and,
//! before the region is `INITIALIZED`, the COMMIT and ROLLBACK rows that could not be applied
//! yet. Guarantees:
//! - a `COMMIT` becomes a [`KvChange`] carrying the value and old value of its `PREWRITE`;
//! - a `COMMITTED` row (1PC, incremental scan) becomes a [`KvChange`] as is;
//! - a `ROLLBACK` drops its `PREWRITE` and emits nothing;
//! - before `INITIALIZED`, a `COMMIT` whose `PREWRITE` has not arrived (or arrived with an empty
//!   value, which may be a fake prewrite) is cached and matched at `INITIALIZED`; one still
//!   unmatched then is dropped, because TiKV's scan already sent that change as `COMMITTED`;
//! - after `INITIALIZED`, a `COMMIT` without its `PREWRITE` is the fatal
//!   [`MatchError::PrewriteNotMatch`]: TiKV broke the protocol and data could be lost.
//!
//! A later PREWRITE never replaces an earlier one with a value by one with an empty value
//! (fake prewrite after a lock rewrite) or a lower `generation` (pipelined DML).
//!
//! PREWRITE values are held in the feed's [`PrewriteStore`] (memory up to its budget, then
//! a spill file), and given back to it when the matcher is dropped.

use std::collections::HashMap;

use super::prewrites::{PrewriteStore, SpillError, Stored};
use crate::event::{KvChange, OpType};
use crate::proto::cdcpb::event::{LogType, Row, row::OpType as RawOpType};

/// A protocol violation the matcher cannot recover from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error(
        "COMMIT of key {} at start ts {start_ts} has no matching PREWRITE",
        hex::encode(key)
    )]
    PrewriteNotMatch { key: Vec<u8>, start_ts: u64 },
    #[error(transparent)]
    Spill(#[from] SpillError),
}

#[derive(Debug)]
struct Prewrite {
    /// The value and old value, wherever the store keeps them.
    stored: Stored,
    /// Whether the value is non-empty.
    has_value: bool,
    op: Option<OpType>,
    generation: u64,
}

/// Matching state of one region subscription.
#[derive(Debug)]
pub struct Matcher {
    region_id: u64,
    initialized: bool,
    prewrites: HashMap<(u64, Vec<u8>), Prewrite>,
    cached_commits: Vec<Row>,
    cached_rollbacks: Vec<(u64, Vec<u8>)>,
    store: PrewriteStore,
}

impl Drop for Matcher {
    fn drop(&mut self) {
        for p in self.prewrites.values() {
            self.store.release(&p.stored);
        }
    }
}

fn op_of(row: &Row) -> Option<OpType> {
    op_of_raw(row.op_type)
}

impl Matcher {
    /// A matcher whose prewrites are all held in memory.
    pub fn new(region_id: u64) -> Self {
        Matcher::with_store(region_id, PrewriteStore::unbounded())
    }

    /// A matcher holding its prewrites in `store`.
    pub fn with_store(region_id: u64, store: PrewriteStore) -> Self {
        Matcher {
            region_id,
            initialized: false,
            prewrites: HashMap::new(),
            cached_commits: Vec::new(),
            cached_rollbacks: Vec::new(),
            store,
        }
    }

    /// Whether `INITIALIZED` was seen.
    pub fn initialized(&self) -> bool {
        self.initialized
    }

    /// PREWRITEs waiting for their COMMIT or ROLLBACK.
    pub fn pending_prewrites(&self) -> usize {
        self.prewrites.len()
    }

    /// Applies one row; committed rows are appended to `out`. Rows of unknown type are
    /// ignored (TiKV sends none).
    pub fn apply(&mut self, row: Row, out: &mut Vec<KvChange>) -> Result<(), MatchError> {
        match LogType::try_from(row.r#type) {
            Ok(LogType::Prewrite) => {
                let k = (row.start_ts, row.key);
                let has_value = !row.value.is_empty();
                let keep_old = self.prewrites.get(&k).is_some_and(|old| {
                    old.has_value && (!has_value || row.generation < old.generation)
                });
                if !keep_old {
                    let new = Prewrite {
                        op: op_of_raw(row.op_type),
                        stored: self.store.put(row.value, row.old_value)?,
                        has_value,
                        generation: row.generation,
                    };
                    if let Some(replaced) = self.prewrites.insert(k, new) {
                        self.store.release(&replaced.stored);
                    }
                }
            }
            Ok(LogType::Commit) => {
                if let Some(r) = self.match_commit(&row)? {
                    out.push(r);
                } else if !self.initialized {
                    self.cached_commits.push(row);
                } else {
                    return Err(MatchError::PrewriteNotMatch {
                        key: row.key,
                        start_ts: row.start_ts,
                    });
                }
            }
            Ok(LogType::Committed) => {
                let op = op_of(&row).unwrap_or(if row.value.is_empty() {
                    OpType::Delete
                } else {
                    OpType::Put
                });
                out.push(KvChange {
                    key: row.key,
                    value: row.value,
                    old_value: old_value(row.old_value),
                    op,
                    start_ts: row.start_ts,
                    commit_ts: row.commit_ts,
                });
            }
            Ok(LogType::Rollback) => {
                let k = (row.start_ts, row.key);
                if self.initialized {
                    self.drop_prewrite(&k);
                } else {
                    self.cached_rollbacks.push(k);
                }
            }
            Ok(LogType::Initialized) => {
                self.initialized = true;
                for c in std::mem::take(&mut self.cached_commits) {
                    match self.match_commit(&c)? {
                        Some(r) => out.push(r),
                        None => tracing::debug!(
                            region = self.region_id,
                            start_ts = c.start_ts,
                            commit_ts = c.commit_ts,
                            "dropping a cached COMMIT without PREWRITE: the scan sent it as COMMITTED"
                        ),
                    }
                }
                for k in std::mem::take(&mut self.cached_rollbacks) {
                    self.drop_prewrite(&k);
                }
            }
            Ok(LogType::Unknown) | Err(_) => {}
        }
        Ok(())
    }

    /// Forgets the PREWRITE of `k`, if any, giving its bytes back to the store.
    fn drop_prewrite(&mut self, k: &(u64, Vec<u8>)) {
        if let Some(p) = self.prewrites.remove(k) {
            self.store.release(&p.stored);
        }
    }

    /// Takes the matching PREWRITE for a COMMIT row, if usable now.
    fn match_commit(&mut self, row: &Row) -> Result<Option<KvChange>, MatchError> {
        let k = (row.start_ts, row.key.clone());
        let Some(p) = self.prewrites.get(&k) else {
            return Ok(None);
        };
        // Before INITIALIZED an empty-valued PREWRITE may be a fake one sent out of order.
        if !self.initialized && (!p.has_value || p.generation > 0) {
            return Ok(None);
        }
        let Some(p) = self.prewrites.remove(&k) else {
            return Ok(None);
        };
        let op = op_of(row).or(p.op).unwrap_or(if p.has_value {
            OpType::Put
        } else {
            OpType::Delete
        });
        let (value, old) = self.store.take(p.stored)?;
        Ok(Some(KvChange {
            key: row.key.clone(),
            value: if op == OpType::Delete {
                Vec::new()
            } else {
                value
            },
            old_value: old_value(old),
            op,
            start_ts: row.start_ts,
            commit_ts: row.commit_ts,
        }))
    }
}

/// TiKV sends an empty old value when there was none.
fn old_value(v: Vec<u8>) -> Option<Vec<u8>> {
    (!v.is_empty()).then_some(v)
}

fn op_of_raw(op_type: i32) -> Option<OpType> {
    match RawOpType::try_from(op_type) {
        Ok(RawOpType::Put) => Some(OpType::Put),
        Ok(RawOpType::Delete) => Some(OpType::Delete),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        t: LogType,
        op: RawOpType,
        key: &str,
        start: u64,
        commit: u64,
        v: &str,
        old: &str,
    ) -> Row {
        Row {
            start_ts: start,
            commit_ts: commit,
            r#type: t as i32,
            op_type: op as i32,
            key: key.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
            old_value: old.as_bytes().to_vec(),
            ..Default::default()
        }
    }
    fn init() -> Row {
        row(LogType::Initialized, RawOpType::Unknown, "", 0, 0, "", "")
    }
    fn run(m: &mut Matcher, rows: Vec<Row>) -> Vec<KvChange> {
        let mut out = Vec::new();
        for r in rows {
            m.apply(r, &mut out).expect("no protocol error");
        }
        out
    }
    fn brief(rs: &[KvChange]) -> Vec<(String, String, String, OpType, u64, u64)> {
        rs.iter()
            .map(|r| {
                (
                    String::from_utf8_lossy(&r.key).into_owned(),
                    String::from_utf8_lossy(&r.value).into_owned(),
                    String::from_utf8_lossy(r.old_value.as_deref().unwrap_or_default())
                        .into_owned(),
                    r.op,
                    r.start_ts,
                    r.commit_ts,
                )
            })
            .collect()
    }
    fn b(
        k: &str,
        v: &str,
        o: &str,
        op: OpType,
        s: u64,
        c: u64,
    ) -> (String, String, String, OpType, u64, u64) {
        (k.into(), v.into(), o.into(), op, s, c)
    }

    #[test]
    fn upstream_matcher_prewrite_then_commit_carries_value_and_old_value() {
        let mut m = Matcher::new(7);
        let out = run(
            &mut m,
            vec![
                init(),
                row(LogType::Prewrite, RawOpType::Put, "k", 10, 0, "v2", "v1"),
                row(LogType::Commit, RawOpType::Put, "k", 10, 11, "", ""),
            ],
        );
        assert_eq!(brief(&out), vec![b("k", "v2", "v1", OpType::Put, 10, 11)]);
        assert_eq!(m.pending_prewrites(), 0);
    }

    #[test]
    fn upstream_matcher_committed_is_emitted_directly() {
        let mut m = Matcher::new(1);
        let out = run(
            &mut m,
            vec![
                row(LogType::Committed, RawOpType::Put, "a", 5, 6, "x", ""),
                init(),
                row(LogType::Committed, RawOpType::Delete, "a", 7, 8, "", "x"),
            ],
        );
        assert_eq!(
            brief(&out),
            vec![
                b("a", "x", "", OpType::Put, 5, 6),
                b("a", "", "x", OpType::Delete, 7, 8)
            ]
        );
    }

    #[test]
    fn upstream_matcher_rollback_drops_prewrite() {
        let mut m = Matcher::new(1);
        let out = run(
            &mut m,
            vec![
                init(),
                row(LogType::Prewrite, RawOpType::Put, "k", 10, 0, "v", ""),
                row(LogType::Rollback, RawOpType::Unknown, "k", 10, 0, "", ""),
            ],
        );
        assert!(out.is_empty());
        assert_eq!(m.pending_prewrites(), 0);
        let mut out = Vec::new();
        let err = m
            .apply(
                row(LogType::Commit, RawOpType::Put, "k", 10, 12, "", ""),
                &mut out,
            )
            .expect_err("commit after rollback has no prewrite");
        assert!(matches!(
            err,
            MatchError::PrewriteNotMatch { start_ts: 10, .. }
        ));
    }

    #[test]
    fn upstream_matcher_prewrite_in_scan_commit_live() {
        let mut m = Matcher::new(1);
        let out = run(
            &mut m,
            vec![
                row(LogType::Prewrite, RawOpType::Put, "k", 10, 0, "v", "old"),
                init(),
                row(LogType::Commit, RawOpType::Put, "k", 10, 11, "", ""),
            ],
        );
        assert_eq!(brief(&out), vec![b("k", "v", "old", OpType::Put, 10, 11)]);
    }

    #[test]
    fn upstream_matcher_commit_before_its_prewrite_before_initialized() {
        let mut m = Matcher::new(1);
        let mut out = Vec::new();
        m.apply(
            row(LogType::Commit, RawOpType::Put, "k", 10, 11, "", ""),
            &mut out,
        )
        .expect("cached");
        assert!(out.is_empty(), "kept until its prewrite arrives");
        m.apply(
            row(LogType::Prewrite, RawOpType::Put, "k", 10, 0, "v", "o"),
            &mut out,
        )
        .expect("prewrite");
        assert!(out.is_empty());
        m.apply(init(), &mut out).expect("init");
        assert_eq!(brief(&out), vec![b("k", "v", "o", OpType::Put, 10, 11)]);
        assert_eq!(m.pending_prewrites(), 0);
    }

    #[test]
    fn upstream_matcher_delete_commit_before_empty_prewrite_before_initialized() {
        // A delete's prewrite has an empty value: before INITIALIZED it is not used, at
        // INITIALIZED it is.
        let mut m = Matcher::new(1);
        let out = run(
            &mut m,
            vec![
                row(LogType::Prewrite, RawOpType::Delete, "k", 10, 0, "", "o"),
                row(LogType::Commit, RawOpType::Delete, "k", 10, 11, "", ""),
                init(),
            ],
        );
        assert_eq!(brief(&out), vec![b("k", "", "o", OpType::Delete, 10, 11)]);
    }

    #[test]
    fn upstream_matcher_cached_commit_without_prewrite_is_dropped_at_initialized() {
        let mut m = Matcher::new(1);
        let out = run(
            &mut m,
            vec![
                row(LogType::Committed, RawOpType::Put, "k", 10, 11, "v", ""),
                row(LogType::Commit, RawOpType::Put, "k", 10, 11, "", ""),
                init(),
            ],
        );
        assert_eq!(brief(&out), vec![b("k", "v", "", OpType::Put, 10, 11)]);
    }

    #[test]
    fn upstream_matcher_cached_rollback_applies_at_initialized() {
        let mut m = Matcher::new(1);
        let out = run(
            &mut m,
            vec![
                row(LogType::Rollback, RawOpType::Unknown, "k", 10, 0, "", ""),
                row(LogType::Prewrite, RawOpType::Put, "k", 10, 0, "v", ""),
                init(),
            ],
        );
        assert!(out.is_empty());
        assert_eq!(m.pending_prewrites(), 0);
    }

    #[test]
    fn upstream_matcher_fake_prewrite_does_not_replace_real_one() {
        let mut m = Matcher::new(1);
        let out = run(
            &mut m,
            vec![
                init(),
                row(LogType::Prewrite, RawOpType::Put, "k", 10, 0, "v", "o"),
                row(LogType::Prewrite, RawOpType::Put, "k", 10, 0, "", ""),
                row(LogType::Commit, RawOpType::Put, "k", 10, 11, "", ""),
            ],
        );
        assert_eq!(brief(&out), vec![b("k", "v", "o", OpType::Put, 10, 11)]);
    }

    #[test]
    fn upstream_matcher_commit_without_prewrite_after_initialized_is_fatal() {
        let mut m = Matcher::new(1);
        let mut out = Vec::new();
        m.apply(init(), &mut out).expect("init");
        let e = m
            .apply(
                row(LogType::Commit, RawOpType::Put, "k", 10, 11, "", ""),
                &mut out,
            )
            .expect_err("fatal");
        assert_eq!(
            e,
            MatchError::PrewriteNotMatch {
                key: b"k".to_vec(),
                start_ts: 10
            }
        );
    }
}
