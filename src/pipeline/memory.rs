//! The memory quota of one changefeed (TiCDC's `memory-quota`, default 1 GiB) and how it is
//! shared between the parts that hold row data.
//!
//! Owns [`MemoryPlan`] (the split of the quota: PREWRITE values waiting for their COMMIT,
//! rows between the feed and the sequencer, raw TiKV stream messages queued for the feed,
//! the sorter's held changes, the jobs between the sequencer and the emitter, the messages
//! queued for Kafka) and [`MemoryBudget`], a byte budget that makes its callers wait
//! ([`Charge`]s are given back when dropped).
//!
//! Guarantees: the six shares add up to the quota, so the row data the changefeed holds in
//! memory stays within it (plus the message each TiKV stream's reader has decoded and waits
//! to queue): beyond their shares the prewrite store and the sorter spill to disk, the
//! stream readers wait for the streams share, and the sequencer waits for the jobs share —
//! which in turn stops the upstream streams — so a burst or a huge transaction is
//! throttled, never an OOM. Each share is separate, so waiting for one never waits on
//! memory the waiter holds itself (no deadlock), and a single item larger than a whole
//! share is charged the whole share.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budgets are counted in units of this many bytes (a semaphore counts in `u32`).
const UNIT: u64 = 1024;

/// How a changefeed's memory quota is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    /// PREWRITE values of uncommitted transactions before they spill to disk.
    pub prewrites: u64,
    /// Committed rows sent by the feed and not yet taken by the sequencer.
    pub events: u64,
    /// Raw TiKV stream messages read and not yet handled by the feed (all streams
    /// together).
    pub streams: u64,
    /// Changes held by the sorter before they spill to disk.
    pub sorter: u64,
    /// Jobs started and not yet handed to the output (raw change bytes).
    pub jobs: u64,
    /// Messages queued in the partition writers, all partitions together (a batch in flight
    /// adds at most one `batch-size` per partition).
    pub produce: u64,
}

impl MemoryPlan {
    /// The split of `quota` bytes: a sixteenth each to prewrites and to rows between the
    /// feed and the sequencer, a thirty-second to raw stream messages, an eighth each to
    /// jobs and produce batches, the rest (nineteen thirty-seconds) to the sorter.
    pub fn of(quota: u64) -> Self {
        let prewrites = quota / 16;
        let events = quota / 16;
        let streams = quota / 32;
        let jobs = quota / 8;
        let produce = quota / 8;
        MemoryPlan {
            prewrites,
            events,
            streams,
            sorter: quota - prewrites - events - streams - jobs - produce,
            jobs,
            produce,
        }
    }
}

/// A byte budget callers wait for.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    units: u32,
}

impl MemoryBudget {
    /// A budget of `bytes` (at least one unit).
    pub fn new(bytes: u64) -> Self {
        let units = u32::try_from((bytes / UNIT).max(1)).unwrap_or(u32::MAX);
        MemoryBudget {
            permits: Arc::new(Semaphore::new(units as usize)),
            units,
        }
    }

    /// Waits until `bytes` (rounded up to units, at most the whole budget) are free, and
    /// takes them until the charge is dropped.
    pub async fn charge(&self, bytes: u64) -> Charge {
        let units = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.units);
        // The semaphore is never closed, so acquiring only fails if it were.
        Charge {
            _taken: Arc::clone(&self.permits)
                .acquire_many_owned(units)
                .await
                .ok(),
        }
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        u64::from(self.units).saturating_sub(self.permits.available_permits() as u64) * UNIT
    }

    /// The budget in bytes.
    pub fn limit(&self) -> u64 {
        u64::from(self.units) * UNIT
    }
}

/// Bytes taken from a [`MemoryBudget`], given back when dropped.
#[derive(Debug)]
pub struct Charge {
    _taken: Option<OwnedSemaphorePermit>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_adds_up_to_the_quota() {
        for q in [64 << 20, 256 << 20, 1 << 30, (1 << 30) + 7] {
            let p = MemoryPlan::of(q);
            assert_eq!(
                p.prewrites + p.events + p.streams + p.sorter + p.jobs + p.produce,
                q
            );
            assert!(p.sorter >= q / 2);
            assert_eq!(p.streams, q / 32);
        }
    }

    #[tokio::test]
    async fn charges_wait_for_what_was_given_back() {
        let b = MemoryBudget::new(10 * UNIT);
        let a = b.charge(6 * UNIT).await;
        assert_eq!(b.used(), 6 * UNIT);
        // More than the whole budget is charged the whole budget, once the rest is free.
        let big = b.clone();
        let waiter = tokio::spawn(async move { big.charge(100 * UNIT).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "waits while 6 units are held");
        drop(a);
        let c = waiter.await.expect("charged");
        assert_eq!(b.used(), b.limit());
        drop(c);
        assert_eq!(b.used(), 0);
    }
}
