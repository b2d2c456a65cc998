//! Row and DDL counters of one changefeed, shared by the stages that count and the tick that
//! reports them (status rate, `rows_received` / `rows_sent`).
//!
//! Guarantees: counts only grow; reading never blocks a stage.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub rows_sent: u64,
    pub ddls_sent: u64,
    pub rows_received: u64,
}

/// Shared counters; clones count into the same totals.
#[derive(Debug, Default, Clone)]
pub struct Counters(Arc<[AtomicU64; 3]>);

impl Counters {
    const SENT: usize = 0;
    const DDLS: usize = 1;
    const RECEIVED: usize = 2;

    pub fn new() -> Self {
        Self::default()
    }

    /// Rows handed to the output.
    pub fn add_rows_sent(&self, n: u64) {
        self.0[Self::SENT].fetch_add(n, Ordering::Relaxed);
    }

    /// DDL messages handed to the output.
    pub fn add_ddl_sent(&self) {
        self.0[Self::DDLS].fetch_add(1, Ordering::Relaxed);
    }

    /// Row changes received from upstream for replicated tables.
    pub fn add_row_received(&self) {
        self.0[Self::RECEIVED].fetch_add(1, Ordering::Relaxed);
    }

    /// The totals now.
    pub fn stats(&self) -> Stats {
        Stats {
            rows_sent: self.0[Self::SENT].load(Ordering::Relaxed),
            ddls_sent: self.0[Self::DDLS].load(Ordering::Relaxed),
            rows_received: self.0[Self::RECEIVED].load(Ordering::Relaxed),
        }
    }
}
