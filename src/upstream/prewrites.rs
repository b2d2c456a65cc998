//! Where the values of PREWRITE rows wait for their COMMIT: in memory up to a byte budget
//! (the `prewrites` share of the changefeed's `memory-quota`), beyond it in a spill file.
//!
//! Owns [`PrewriteStore`] (shared by every region matcher of one feed; the feed's driver is
//! one task, so its lock is never contended) and [`Stored`] (one prewrite's value and old
//! value, in memory or at an offset of the file). TiKV sends a 2PC transaction's values
//! with its PREWRITE rows and none with the COMMIT rows, so a transaction of gigabytes is
//! held here until it commits; without a budget that is an OOM.
//!
//! Guarantees: the values held in memory stay within the budget (a value larger than the
//! whole budget goes to the file); [`PrewriteStore::take`] gives back exactly the bytes
//! [`PrewriteStore::put`] was given; the file is emptied whenever nothing in it is held any
//! more and removed when the last handle is dropped. The file is a cache of what TiKV
//! resends after a restart (nothing is acknowledged before its commit), so it is not
//! fsynced.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One prewrite's value and old value.
#[derive(Debug)]
pub enum Stored {
    Memory {
        value: Vec<u8>,
        old_value: Vec<u8>,
    },
    Spilled {
        at: u64,
        value_len: usize,
        old_len: usize,
    },
}

/// A spill file that could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the prewrite spill file {path}: {reason} (is the state directory's disk full or read-only?)"
)]
pub struct SpillError {
    pub path: String,
    pub reason: String,
}

/// The prewrite values of one feed (cheap to clone; clones share the budget and the file).
#[derive(Debug, Clone, Default)]
pub struct PrewriteStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Bytes of values held in memory at most; `None`: no bound (and no file).
    budget: Option<u64>,
    in_memory: u64,
    path: Option<PathBuf>,
    file: Option<File>,
    /// Where the next spilled value goes.
    end: u64,
    /// Spilled prewrites not yet taken or released.
    spilled: u64,
}

impl PrewriteStore {
    /// A store that keeps at most `budget` bytes in memory and spills the rest to `path`
    /// (created on first use, truncated if it exists).
    pub fn new(budget: u64, path: PathBuf) -> Self {
        PrewriteStore {
            inner: Arc::new(Mutex::new(Inner {
                budget: Some(budget),
                in_memory: 0,
                path: Some(path),
                file: None,
                end: 0,
                spilled: 0,
            })),
        }
    }

    /// A store that keeps everything in memory (tests, tools).
    pub fn unbounded() -> Self {
        PrewriteStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds `value` and `old_value`: in memory while the budget allows, else in the file.
    pub fn put(&self, value: Vec<u8>, old_value: Vec<u8>) -> Result<Stored, SpillError> {
        let size = (value.len() + old_value.len()) as u64;
        let mut g = self.lock();
        let fits = g.budget.is_none_or(|b| g.in_memory + size <= b);
        if fits || size == 0 {
            g.in_memory += size;
            return Ok(Stored::Memory { value, old_value });
        }
        let at = g.end;
        g.append(&value, &old_value)?;
        g.spilled += 1;
        Ok(Stored::Spilled {
            at,
            value_len: value.len(),
            old_len: old_value.len(),
        })
    }

    /// The value and old value of `s`, which is no longer held.
    pub fn take(&self, s: Stored) -> Result<(Vec<u8>, Vec<u8>), SpillError> {
        let mut g = self.lock();
        match s {
            Stored::Memory { value, old_value } => {
                g.in_memory = g
                    .in_memory
                    .saturating_sub((value.len() + old_value.len()) as u64);
                Ok((value, old_value))
            }
            Stored::Spilled {
                at,
                value_len,
                old_len,
            } => {
                let mut buf = vec![0; value_len + old_len];
                let read = match &g.file {
                    Some(f) => f.read_exact_at(&mut buf, at),
                    None => Err(std::io::Error::other("the file is gone")),
                };
                g.forget_spilled();
                read.map_err(|e| g.error(&e))?;
                let old_value = buf.split_off(value_len);
                Ok((buf, old_value))
            }
        }
    }

    /// Drops `s` without reading it (a rollback, a replaced prewrite, a region dropped).
    pub fn release(&self, s: &Stored) {
        let mut g = self.lock();
        match s {
            Stored::Memory { value, old_value } => {
                g.in_memory = g
                    .in_memory
                    .saturating_sub((value.len() + old_value.len()) as u64);
            }
            Stored::Spilled { .. } => g.forget_spilled(),
        }
    }

    /// Bytes of values held in memory.
    pub fn in_memory(&self) -> u64 {
        self.lock().in_memory
    }

    /// Prewrites held in the spill file.
    pub fn spilled(&self) -> u64 {
        self.lock().spilled
    }
}

impl Inner {
    fn append(&mut self, value: &[u8], old_value: &[u8]) -> Result<(), SpillError> {
        if self.file.is_none() {
            let file = self.open().map_err(|e| self.error(&e))?;
            self.file = Some(file);
        }
        let at = self.end;
        let written = match &self.file {
            Some(f) => f
                .write_all_at(value, at)
                .and_then(|()| f.write_all_at(old_value, at + value.len() as u64)),
            None => Ok(()),
        };
        written.map_err(|e| self.error(&e))?;
        self.end += (value.len() + old_value.len()) as u64;
        Ok(())
    }

    fn open(&self) -> std::io::Result<File> {
        let path = self
            .path
            .as_ref()
            .ok_or_else(|| std::io::Error::other("no spill path"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(path)
    }

    /// One spilled prewrite fewer; the file is emptied when none is left.
    fn forget_spilled(&mut self) {
        self.spilled = self.spilled.saturating_sub(1);
        if self.spilled == 0 && self.end > 0 {
            if let Some(f) = &self.file {
                let _ = f.set_len(0);
            }
            self.end = 0;
        }
    }

    fn error(&self, e: &std::io::Error) -> SpillError {
        SpillError {
            path: self
                .path
                .as_ref()
                .map_or_else(|| "(none)".to_string(), |p| p.display().to_string()),
            reason: e.to_string(),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.file.take().is_some()
            && let Some(p) = &self.path
        {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_beyond_the_budget_go_to_the_file_and_come_back_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.spill");
        let store = PrewriteStore::new(10, path.clone());
        let a = store.put(b"12345".to_vec(), b"678".to_vec()).expect("a");
        assert!(matches!(a, Stored::Memory { .. }));
        assert_eq!(store.in_memory(), 8);
        let b = store.put(b"abcdef".to_vec(), Vec::new()).expect("b");
        let c = store.put(b"x".to_vec(), b"old".to_vec()).expect("c");
        assert!(matches!(b, Stored::Spilled { .. }));
        assert!(matches!(c, Stored::Spilled { .. }));
        assert_eq!((store.in_memory(), store.spilled()), (8, 2));
        assert_eq!(
            store.take(c).expect("c back"),
            (b"x".to_vec(), b"old".to_vec())
        );
        assert_eq!(
            store.take(b).expect("b back"),
            (b"abcdef".to_vec(), Vec::new())
        );
        assert_eq!(std::fs::metadata(&path).expect("file").len(), 0, "emptied");
        store.release(&a);
        assert_eq!((store.in_memory(), store.spilled()), (0, 0));
        drop(store);
        assert!(!path.exists(), "removed with the last handle");
    }

    #[test]
    fn an_unbounded_store_never_spills() {
        let store = PrewriteStore::unbounded();
        let s = store.put(vec![7; 1 << 20], Vec::new()).expect("put");
        assert!(matches!(s, Stored::Memory { .. }));
        assert_eq!(store.take(s).expect("take").0.len(), 1 << 20);
    }

    #[test]
    fn an_unwritable_file_is_an_error_naming_it() {
        let store = PrewriteStore::new(0, PathBuf::from("/proc/nope/p.spill"));
        let e = store
            .put(b"v".to_vec(), Vec::new())
            .expect_err("unwritable");
        assert!(e.to_string().contains("/proc/nope/p.spill"), "{e}");
    }
}
