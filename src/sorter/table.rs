//! One table's sorter (see the module above for its guarantees).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::PathBuf;

use super::MemoryQuota;
use super::change;
use super::spill::SpillFile;
use crate::event::KvChange;

#[derive(Debug, thiserror::Error)]
pub enum SorterError {
    #[error(
        "sorter spill file {path}: {source}; check free space and permissions of the state directory"
    )]
    Spill {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug)]
enum Held {
    Memory(KvChange),
    Spilled { at: u64, len: u32 },
}

/// Orders one table's changes and releases them as its frontier advances.
#[derive(Debug)]
pub struct TableSorter {
    quota: MemoryQuota,
    spill_path: PathBuf,
    spill: Option<SpillFile>,
    held: BTreeMap<(u64, u64, Vec<u8>), Held>,
    memory_bytes: usize,
    spilled: usize,
    /// Every change with commit ts at or below this has been released.
    released: u64,
    duplicates: u64,
}

impl TableSorter {
    /// A sorter that starts after `checkpoint_ts` (changes at or below it are duplicates of
    /// what a previous run delivered) and spills to `spill_path` when `quota` is used up.
    pub fn new(checkpoint_ts: u64, quota: MemoryQuota, spill_path: PathBuf) -> Self {
        TableSorter {
            quota,
            spill_path,
            spill: None,
            held: BTreeMap::new(),
            memory_bytes: 0,
            spilled: 0,
            released: checkpoint_ts,
            duplicates: 0,
        }
    }

    fn spill_err(&self, source: std::io::Error) -> SorterError {
        SorterError::Spill {
            path: self.spill_path.display().to_string(),
            source,
        }
    }

    /// Holds `c` until the frontier passes it. Returns false when it was a duplicate.
    pub fn push(&mut self, mut c: KvChange) -> Result<bool, SorterError> {
        if c.commit_ts <= self.released {
            self.duplicates += 1;
            return Ok(false);
        }
        let size = c.size();
        // One walk of the tree for the duplicate check and the insert; the key moves into
        // the tree's order key, and back out on release.
        let Entry::Vacant(slot) = self.held.entry(change::take_order_key(&mut c)) else {
            self.duplicates += 1;
            return Ok(false);
        };
        let held = if self.quota.try_take(size) {
            self.memory_bytes += size;
            Held::Memory(c)
        } else {
            let path = &self.spill_path;
            let err = |source| SorterError::Spill {
                path: path.display().to_string(),
                source,
            };
            let file = match &mut self.spill {
                Some(f) => f,
                None => self
                    .spill
                    .insert(SpillFile::create(path.clone()).map_err(err)?),
            };
            c.key.clone_from(&slot.key().2);
            let (at, len) = file.append(&c).map_err(err)?;
            self.spilled += 1;
            Held::Spilled { at, len }
        };
        slot.insert(held);
        Ok(true)
    }

    /// The next change with commit ts at or below `frontier`, in release order; `None` once
    /// there is none (and everything up to `frontier` counts as released).
    pub fn release_next(&mut self, frontier: u64) -> Result<Option<KvChange>, SorterError> {
        let ready = self
            .held
            .first_key_value()
            .is_some_and(|((commit_ts, _, _), _)| *commit_ts <= frontier);
        if !ready {
            self.released = self.released.max(frontier);
            if self.spilled == 0
                && let Some(f) = self.spill.as_mut()
            {
                f.reset().map_err(|e| SorterError::Spill {
                    path: self.spill_path.display().to_string(),
                    source: e,
                })?;
            }
            return Ok(None);
        }
        let Some((order_key, held)) = self.held.pop_first() else {
            return Ok(None);
        };
        match held {
            Held::Memory(mut c) => {
                change::restore_key(&mut c, order_key);
                let size = c.size();
                self.memory_bytes -= size;
                self.quota.give_back(size);
                Ok(Some(c))
            }
            Held::Spilled { at, len } => {
                self.spilled -= 1;
                let read = match self.spill.as_mut() {
                    Some(f) => f.read(at, len),
                    None => Err(std::io::Error::other("spill file missing")),
                };
                read.map(Some).map_err(|e| self.spill_err(e))
            }
        }
    }

    /// Changes held (in memory and spilled).
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Bytes held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes
    }

    /// Changes held in the spill file.
    pub fn spilled(&self) -> usize {
        self.spilled
    }

    /// Duplicates dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Everything at or below this commit ts has been released.
    pub fn released(&self) -> u64 {
        self.released
    }
}

impl Drop for TableSorter {
    fn drop(&mut self) {
        self.quota.give_back(self.memory_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::OpType;

    fn ch(key: &str, start: u64, commit: u64, value_len: usize) -> KvChange {
        KvChange {
            key: key.as_bytes().to_vec(),
            value: vec![b'v'; value_len],
            old_value: None,
            op: OpType::Put,
            start_ts: start,
            commit_ts: commit,
        }
    }

    fn drain(s: &mut TableSorter, frontier: u64) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        while let Some(c) = s.release_next(frontier).expect("release") {
            out.push((String::from_utf8_lossy(&c.key).into_owned(), c.commit_ts));
        }
        out
    }

    #[test]
    fn releases_in_commit_order_only_below_the_frontier() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = TableSorter::new(0, MemoryQuota::new(1 << 20), dir.path().join("t.spill"));
        for (k, st, c) in [("b", 5, 30), ("a", 1, 10), ("c", 9, 20), ("a", 11, 40)] {
            assert!(s.push(ch(k, st, c, 4)).expect("push"));
        }
        assert_eq!(drain(&mut s, 25), vec![("a".into(), 10), ("c".into(), 20)]);
        assert_eq!(drain(&mut s, 25), vec![]);
        assert_eq!(drain(&mut s, 100), vec![("b".into(), 30), ("a".into(), 40)]);
        assert!(s.is_empty());
    }

    #[test]
    fn duplicates_from_resubscription_are_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = TableSorter::new(5, MemoryQuota::new(1 << 20), dir.path().join("t.spill"));
        assert!(
            !s.push(ch("a", 1, 5, 1)).expect("push"),
            "at the checkpoint: delivered before"
        );
        assert!(s.push(ch("a", 6, 10, 1)).expect("push"));
        assert!(!s.push(ch("a", 6, 10, 1)).expect("push"), "held twice");
        assert_eq!(drain(&mut s, 10).len(), 1);
        assert!(
            !s.push(ch("a", 6, 10, 1)).expect("push"),
            "already released"
        );
        assert_eq!(s.duplicates(), 3);
    }

    #[test]
    fn a_transaction_larger_than_the_quota_spills_and_comes_back_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let quota = MemoryQuota::new(10_000);
        let path = dir.path().join("t.spill");
        let mut s = TableSorter::new(0, quota.clone(), path.clone());
        for i in (0..1000).rev() {
            assert!(s.push(ch(&format!("k{i:04}"), 7, 100, 100)).expect("push"));
        }
        assert!(quota.used() <= 10_000);
        assert!(s.spilled() > 900, "most of the transaction is on disk");
        assert!(path.exists());
        let out = drain(&mut s, 100);
        assert_eq!(out.len(), 1000);
        let keys: Vec<String> = out.into_iter().map(|(k, _)| k).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "key order within the commit ts");
        assert_eq!(quota.used(), 0, "memory given back");
        drop(s);
        assert!(!path.exists(), "spill file removed");
    }
}
