//! Busy time per pipeline stage: where a changefeed's time goes, as
//! `tidb_changefeed_stage_busy_seconds{changefeed, stage}`.
//!
//! Owns [`Stage`], [`StageTimes`] (durations accumulated while one release of rows is
//! processed) and [`StageMetrics`] (one histogram per stage, recorded once per release, never
//! per row). Stages: `sort` (the sequencer's work: sorter push and release, cutting jobs;
//! timed per batch of events and per transaction, not per row), `decode` (row decoding and
//! event filters, on the workers), `encode` (encoding and large-message handling, on the
//! workers), `send` (the emitter handing messages to the partition writers, waiting
//! included when their queues are full).

use std::time::{Duration, Instant};

use metrics::Histogram;

/// A stage of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Sort,
    Decode,
    Encode,
    Send,
}

impl Stage {
    const ALL: [Stage; 4] = [Stage::Sort, Stage::Decode, Stage::Encode, Stage::Send];

    /// The `stage` label.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Sort => "sort",
            Stage::Decode => "decode",
            Stage::Encode => "encode",
            Stage::Send => "send",
        }
    }
}

/// Busy time accumulated per stage.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StageTimes([Duration; 4]);

impl StageTimes {
    /// Adds the time since `since` to `stage`, and returns now (the next span's start).
    pub fn add_since(&mut self, stage: Stage, since: Instant) -> Instant {
        let now = Instant::now();
        self.0[stage as usize] += now.saturating_duration_since(since);
        now
    }

    /// The time accumulated for `stage`.
    pub fn get(&self, stage: Stage) -> Duration {
        self.0[stage as usize]
    }

    /// Adds `other`'s times to these.
    pub fn merge(&mut self, other: StageTimes) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// Whether nothing was accumulated.
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(Duration::is_zero)
    }
}

/// One histogram per stage for a changefeed.
#[derive(Debug, Clone)]
pub struct StageMetrics([Histogram; 4]);

impl StageMetrics {
    pub fn new(changefeed: &str) -> Self {
        StageMetrics(Stage::ALL.map(|s| {
            metrics::histogram!(
                crate::metrics::STAGE_BUSY_SECONDS,
                "changefeed" => changefeed.to_string(),
                "stage" => s.name()
            )
        }))
    }

    /// Records one release's busy times (stages with none are not recorded).
    pub fn record(&self, times: &StageTimes) {
        for s in Stage::ALL {
            let t = times.get(s);
            if !t.is_zero() {
                self.0[s as usize].record(t.as_secs_f64());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_accumulate_per_stage() {
        let mut t = StageTimes::default();
        assert!(t.is_zero());
        let start = Instant::now() - Duration::from_millis(5);
        let next = t.add_since(Stage::Decode, start);
        assert!(t.get(Stage::Decode) >= Duration::from_millis(5));
        assert!(t.get(Stage::Sort).is_zero());
        let mut u = StageTimes::default();
        u.add_since(Stage::Decode, next - Duration::from_millis(1));
        let before = t.get(Stage::Decode);
        t.merge(u);
        assert!(t.get(Stage::Decode) >= before + Duration::from_millis(1));
        assert_eq!(Stage::Send.name(), "send");
    }
}
