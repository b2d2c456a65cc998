//! The byte budget of what waits in a channel: the sender takes an item's bytes before it
//! sends the item and waits while the budget is spent; the receiver gives them back once it
//! is done with the item ([`EventBudget::release`]). It bounds the rows between the feed
//! and its consumer, and the raw store-stream messages between the stream readers and the
//! feed driver, so a burst of large items (a committed transaction of gigabytes) waits in
//! TiKV's stream rather than in a channel, whatever the item size.
//!
//! Guarantees: at most the budget's bytes are taken at once; a row larger than the whole
//! budget takes all of it; an unbounded budget (the default, for consumers that never
//! release) never waits.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Bytes are counted in units of this many (a semaphore counts in `u32`).
const UNIT: u64 = 1024;

/// A byte budget shared by a feed and its consumer (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct EventBudget {
    inner: Option<(Arc<Semaphore>, u32)>,
}

impl EventBudget {
    /// A budget of `bytes` (at least one unit).
    pub fn new(bytes: u64) -> Self {
        let units = u32::try_from((bytes / UNIT).max(1)).unwrap_or(u32::MAX);
        EventBudget {
            inner: Some((Arc::new(Semaphore::new(units as usize)), units)),
        }
    }

    /// No bound: taking never waits and releasing does nothing.
    pub fn unbounded() -> Self {
        EventBudget::default()
    }

    fn units(&self, bytes: usize) -> Option<(&Arc<Semaphore>, u32)> {
        let (sem, total) = self.inner.as_ref()?;
        let units = u32::try_from((bytes as u64).div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, *total);
        Some((sem, units))
    }

    /// Waits until `bytes` are free and takes them (until [`EventBudget::release`]).
    pub async fn take(&self, bytes: usize) {
        if let Some((sem, units)) = self.units(bytes) {
            if let Ok(p) = sem.try_acquire_many(units) {
                p.forget();
                return;
            }
            // Never closed: acquiring only fails if it were.
            if let Ok(p) = sem.acquire_many(units).await {
                p.forget();
            }
        }
    }

    /// Gives back what [`EventBudget::take`] took for a row of `bytes`.
    pub fn release(&self, bytes: usize) {
        let mut r = self.releaser();
        r.add(bytes);
        r.flush();
    }

    /// A consumer-side accumulator that gives bytes back in batches (one semaphore update
    /// per batch instead of per row).
    pub fn releaser(&self) -> Releaser {
        Releaser {
            budget: self.clone(),
            units: 0,
        }
    }

    /// Bytes taken now (0 when unbounded).
    pub fn used(&self) -> u64 {
        self.inner.as_ref().map_or(0, |(sem, total)| {
            u64::from(*total).saturating_sub(sem.available_permits() as u64) * UNIT
        })
    }
}

/// Bytes taken off the channel and not yet given back; give them back with
/// [`Releaser::flush`] before the consumer waits for the feed, or the feed may wait forever.
#[derive(Debug)]
pub struct Releaser {
    budget: EventBudget,
    units: usize,
}

impl Releaser {
    /// Counts a row of `bytes` taken off the channel; gives back the batch when it is large.
    pub fn add(&mut self, bytes: usize) {
        if let Some((_, units)) = self.budget.units(bytes) {
            self.units += units as usize;
            if self.units >= RELEASE_BATCH_UNITS {
                self.flush();
            }
        }
    }

    /// Gives back everything counted.
    pub fn flush(&mut self) {
        if self.units > 0
            && let Some((sem, _)) = &self.budget.inner
        {
            sem.add_permits(self.units);
        }
        self.units = 0;
    }
}

/// Units a [`Releaser`] gives back at once at most (256 KiB).
const RELEASE_BATCH_UNITS: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn taking_waits_for_what_the_consumer_gives_back() {
        let b = EventBudget::new(4 * UNIT);
        b.take(3000).await;
        assert_eq!(b.used(), 3 * UNIT);
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move { b.take(100 * 1024).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "a row above the rest waits");
        b.release(3000);
        waiter.await.expect("taken");
        assert_eq!(b.used(), 4 * UNIT, "a row above the budget takes all of it");
        b.release(100 * 1024);
        assert_eq!(b.used(), 0);
    }

    #[tokio::test]
    async fn unbounded_never_waits() {
        let b = EventBudget::unbounded();
        b.take(1 << 30).await;
        b.release(1 << 30);
        assert_eq!(b.used(), 0);
    }
}
