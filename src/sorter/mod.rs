//! The sorter: per table, committed row changes are held until the table's frontier (the
//! resolved ts of the regions covering it) passes their commit ts, then released in commit
//! order. It owns three guarantees:
//!
//! * **Order**: changes are released sorted by (commit ts, start ts, key), so every key's
//!   changes come out in commit order, and nothing is released above the frontier.
//! * **No duplicates**: a change seen again after a region re-subscription — at or below what
//!   was already released, or identical to one still held — is dropped.
//! * **Bounded memory**: held changes count against a per-changefeed byte quota; above it,
//!   changes are appended to a spill file in the state directory and read back when
//!   released, so a transaction larger than memory does not need that much memory.

mod change;
mod spill;
mod table;

pub use table::{SorterError, TableSorter};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of held changes a changefeed may keep in memory, shared by its table sorters.
#[derive(Debug, Clone)]
pub struct MemoryQuota {
    limit: usize,
    used: Arc<AtomicUsize>,
}

impl MemoryQuota {
    pub fn new(limit: usize) -> Self {
        MemoryQuota {
            limit,
            used: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Takes `n` bytes if they fit under the limit.
    pub fn try_take(&self, n: usize) -> bool {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            if cur.saturating_add(n) > self.limit {
                return false;
            }
            match self
                .used
                .compare_exchange_weak(cur, cur + n, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    pub fn give_back(&self, n: usize) {
        self.used.fetch_sub(n.min(self.used()), Ordering::AcqRel);
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}
