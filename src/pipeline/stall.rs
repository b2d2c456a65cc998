//! Telling a stalled sink from a busy one: the checkpoint tick feeds [`StallWatch`] the
//! sink's acknowledgement count, the checkpoint, and whether anything waits to be written,
//! and the watch says how long neither moved while something waited.
//!
//! Guarantees: an idle changefeed (nothing submitted, queued or received past the
//! checkpoint) is never stalled, however long nothing moves; any acknowledgement or
//! checkpoint advance ends a stall at once; the stall is measured
//! from the first sample that saw work waiting without progress, so it never exceeds the
//! real time the sink made no progress by more than one tick.

use std::time::{Duration, Instant};

/// What one tick saw of the sink.
#[derive(Debug, Clone, Copy)]
pub struct SinkSample {
    /// Acknowledgements since the start (only grows).
    pub acked: u64,
    /// The changefeed's checkpoint.
    pub checkpoint: u64,
    /// Whether messages are submitted and not yet acknowledged, queued for Kafka, or
    /// changes received past the checkpoint wait to become messages.
    pub waiting: bool,
}

/// The sink's progress across ticks.
#[derive(Debug)]
pub struct StallWatch {
    acked: u64,
    checkpoint: u64,
    /// Since when work has waited without an acknowledgement; `None` while progressing or idle.
    since: Option<Instant>,
}

impl StallWatch {
    pub fn new() -> Self {
        StallWatch {
            acked: 0,
            checkpoint: 0,
            since: None,
        }
    }

    /// Records the sample taken at `now`; returns how long the sink has been stalled
    /// (zero when it is not).
    pub fn observe(&mut self, s: SinkSample, now: Instant) -> Duration {
        let progressed = s.acked != self.acked || s.checkpoint != self.checkpoint;
        self.acked = s.acked;
        self.checkpoint = s.checkpoint;
        if progressed || !s.waiting {
            self.since = None;
            return Duration::ZERO;
        }
        now.duration_since(*self.since.get_or_insert(now))
    }
}

impl Default for StallWatch {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, secs: u64) -> Instant {
        base + Duration::from_secs(secs)
    }

    #[test]
    fn waiting_without_acks_grows_and_an_ack_ends_it() {
        let t = Instant::now();
        let mut w = StallWatch::new();
        let busy = |acked| SinkSample {
            acked,
            checkpoint: 9,
            waiting: true,
        };
        assert_eq!(w.observe(busy(5), at(t, 0)), Duration::ZERO, "progress");
        assert_eq!(w.observe(busy(5), at(t, 1)), Duration::ZERO, "stall starts");
        assert_eq!(w.observe(busy(5), at(t, 4)), Duration::from_secs(3));
        assert_eq!(w.observe(busy(5), at(t, 9)), Duration::from_secs(8));
        assert_eq!(w.observe(busy(6), at(t, 10)), Duration::ZERO, "an ack");
        assert_eq!(w.observe(busy(6), at(t, 11)), Duration::ZERO);
        assert_eq!(w.observe(busy(6), at(t, 12)), Duration::from_secs(1));
    }

    #[test]
    fn an_idle_sink_is_never_stalled() {
        let t = Instant::now();
        let mut w = StallWatch::new();
        for s in 0..100 {
            let idle = SinkSample {
                acked: 7,
                checkpoint: 9,
                waiting: false,
            };
            assert_eq!(w.observe(idle, at(t, s)), Duration::ZERO);
        }
        let busy = SinkSample {
            acked: 7,
            checkpoint: 9,
            waiting: true,
        };
        assert_eq!(w.observe(busy, at(t, 100)), Duration::ZERO);
        assert_eq!(w.observe(busy, at(t, 102)), Duration::from_secs(2));
    }

    #[test]
    fn a_checkpoint_moved_without_acks_is_progress() {
        let t = Instant::now();
        let mut w = StallWatch::new();
        let s = |checkpoint| SinkSample {
            acked: 0,
            checkpoint,
            waiting: true,
        };
        assert_eq!(w.observe(s(1), at(t, 0)), Duration::ZERO);
        assert_eq!(w.observe(s(1), at(t, 1)), Duration::ZERO);
        assert_eq!(w.observe(s(1), at(t, 3)), Duration::from_secs(2));
        assert_eq!(w.observe(s(2), at(t, 4)), Duration::ZERO, "watermarks only");
    }
}
