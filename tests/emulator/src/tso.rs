//! Timestamp oracle shared by the emulated PD and the MVCC model.
//!
//! Guarantees strictly increasing TSO values `physical_ms << 18 | logical` across
//! every caller, physical time taken from the wall clock (never going backwards).

use std::time::{SystemTime, UNIX_EPOCH};

/// Bits of the logical part of a TSO.
pub const LOGICAL_BITS: u32 = 18;
const MAX_LOGICAL: i64 = (1 << LOGICAL_BITS) - 1;

/// Compose a TSO from its physical (ms) and logical parts.
#[must_use]
pub fn compose(physical: i64, logical: i64) -> u64 {
    (u64::try_from(physical).unwrap_or(0) << LOGICAL_BITS) | u64::try_from(logical).unwrap_or(0)
}

/// The physical (ms) part of a TSO.
#[must_use]
pub fn physical_of(ts: u64) -> i64 {
    i64::try_from(ts >> LOGICAL_BITS).unwrap_or(i64::MAX)
}

/// A monotonic TSO allocator.
#[derive(Debug, Default)]
pub struct Tso {
    physical: i64,
    logical: i64,
}

impl Tso {
    fn wall_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    /// Allocate `count` (≥ 1) timestamps; returns `(physical, largest logical)` as PD does.
    pub fn allocate(&mut self, count: u32) -> (i64, i64) {
        let count = i64::from(count.max(1));
        let now = Self::wall_ms();
        if now > self.physical {
            self.physical = now;
            self.logical = 0;
        }
        if self.logical + count > MAX_LOGICAL {
            self.physical += 1;
            self.logical = 0;
        }
        self.logical += count;
        (self.physical, self.logical)
    }

    /// One fresh timestamp.
    pub fn next_ts(&mut self) -> u64 {
        let (p, l) = self.allocate(1);
        compose(p, l)
    }

    /// Make sure every later timestamp is greater than `ts`.
    pub fn observe(&mut self, ts: u64) {
        let p = physical_of(ts);
        let l = i64::try_from(ts & u64::try_from(MAX_LOGICAL).unwrap_or(0)).unwrap_or(0);
        if (p, l) > (self.physical, self.logical) {
            self.physical = p;
            self.logical = l;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_batched() {
        let mut t = Tso::default();
        let a = t.next_ts();
        let (p, l) = t.allocate(10);
        let b = compose(p, l);
        assert!(b >= a + 10);
        assert!(t.next_ts() > b);
        assert_eq!(compose(1_700_000_000_000, 5), 445_644_800_000_000_005);
    }
}
