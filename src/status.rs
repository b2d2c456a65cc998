//! The observable state of the process: per changefeed its lifecycle state, progress and
//! last error. Changefeed tasks write it; `/readyz`, `/api/v1/status` and the progress
//! metrics read it. Cloning a [`StatusBoard`] shares the same state.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::metrics;

/// Lifecycle of one changefeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangefeedState {
    /// Connecting to PD/TiKV and Kafka, loading the checkpoint.
    Starting,
    /// Replicating.
    Running,
    /// Retrying after a transient error (unreachable PD or Kafka, …).
    Retrying,
    /// Draining for shutdown.
    Stopping,
    /// Stopped cleanly.
    Stopped,
    /// Stopped on an error that needs the operator.
    Failed,
}

impl ChangefeedState {
    pub const ALL: [ChangefeedState; 6] = [
        ChangefeedState::Starting,
        ChangefeedState::Running,
        ChangefeedState::Retrying,
        ChangefeedState::Stopping,
        ChangefeedState::Stopped,
        ChangefeedState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangefeedState::Starting => "starting",
            ChangefeedState::Running => "running",
            ChangefeedState::Retrying => "retrying",
            ChangefeedState::Stopping => "stopping",
            ChangefeedState::Stopped => "stopped",
            ChangefeedState::Failed => "failed",
        }
    }
}

/// What `/api/v1/status` shows for one changefeed.
#[derive(Debug, Clone, Serialize)]
pub struct ChangefeedStatus {
    pub id: String,
    pub state: ChangefeedState,
    /// When the changefeed entered its state, RFC 3339.
    pub state_since: String,
    /// Why the changefeed is not running, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub checkpoint_ts: Option<u64>,
    /// The checkpoint's physical time, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_time: Option<String>,
    pub resolved_ts: Option<u64>,
    /// Seconds between now and the checkpoint's physical time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<f64>,
    /// Rows sent per second over the last checkpoint interval.
    pub rows_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Shared status of every changefeed of the process.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    inner: Arc<RwLock<BTreeMap<String, ChangefeedStatus>>>,
}

impl StatusBoard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a changefeed in state `Starting`.
    pub fn register(&self, id: &str) {
        self.write(|m| {
            m.insert(
                id.to_string(),
                ChangefeedStatus {
                    id: id.to_string(),
                    state: ChangefeedState::Starting,
                    state_since: now_rfc3339(),
                    reason: Some("starting".to_string()),
                    checkpoint_ts: None,
                    checkpoint_time: None,
                    resolved_ts: None,
                    lag_seconds: None,
                    rows_per_second: 0.0,
                    last_error: None,
                },
            );
        });
        publish_state(id, ChangefeedState::Starting);
    }

    /// Moves a changefeed to `state`, with the reason shown while it is not running.
    pub fn set_state(&self, id: &str, state: ChangefeedState, reason: Option<String>) {
        self.write(|m| {
            if let Some(s) = m.get_mut(id) {
                if s.state != state {
                    s.state_since = now_rfc3339();
                }
                s.state = state;
                s.reason = reason;
            }
        });
        publish_state(id, state);
    }

    /// Records progress: the checkpoint (acknowledged) and resolved (received) ts.
    pub fn set_progress(&self, id: &str, checkpoint_ts: u64, resolved_ts: u64) {
        let ms = i64::try_from(checkpoint_ts >> 18).unwrap_or(i64::MAX);
        let time = chrono::DateTime::from_timestamp_millis(ms);
        let now = chrono::Utc::now().timestamp_millis();
        self.write(|m| {
            if let Some(s) = m.get_mut(id) {
                s.checkpoint_ts = Some(checkpoint_ts);
                s.checkpoint_time =
                    time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
                s.resolved_ts = Some(resolved_ts);
                s.lag_seconds = Some(((now - ms).max(0)) as f64 / 1000.0);
            }
        });
    }

    /// The state of changefeed `id`, if it is registered.
    pub fn state(&self, id: &str) -> Option<ChangefeedState> {
        match self.inner.read() {
            Ok(m) => m.get(id).map(|s| s.state),
            Err(poisoned) => poisoned.into_inner().get(id).map(|s| s.state),
        }
    }

    /// Records the row rate.
    pub fn set_rate(&self, id: &str, rows_per_second: f64) {
        self.write(|m| {
            if let Some(s) = m.get_mut(id) {
                s.rows_per_second = rows_per_second;
            }
        });
    }

    /// Records the error that interrupted a changefeed.
    pub fn set_error(&self, id: &str, error: String) {
        self.write(|m| {
            if let Some(s) = m.get_mut(id) {
                s.last_error = Some(error);
            }
        });
    }

    pub fn snapshot(&self) -> Vec<ChangefeedStatus> {
        match self.inner.read() {
            Ok(m) => m.values().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        }
    }

    /// Ready when at least one changefeed exists and every changefeed is running. Otherwise
    /// the reasons, one per changefeed that is not.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let snap = self.snapshot();
        if snap.is_empty() {
            return Err(vec!["no changefeed is configured".to_string()]);
        }
        let reasons: Vec<String> = snap
            .iter()
            .filter(|s| s.state != ChangefeedState::Running)
            .map(|s| {
                format!(
                    "changefeed {}: {}{}",
                    s.id,
                    s.state.as_str(),
                    s.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }

    fn write(&self, f: impl FnOnce(&mut BTreeMap<String, ChangefeedStatus>)) {
        match self.inner.write() {
            Ok(mut m) => f(&mut m),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn publish_state(id: &str, state: ChangefeedState) {
    for s in ChangefeedState::ALL {
        ::metrics::gauge!(metrics::CHANGEFEED_STATE, "changefeed" => id.to_string(), "state" => s.as_str())
            .set(if s == state { 1.0 } else { 0.0 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_every_changefeed_running() {
        let b = StatusBoard::new();
        assert!(b.readiness().is_err());
        b.register("a");
        b.register("b");
        b.set_state("a", ChangefeedState::Running, None);
        let why = b.readiness().expect_err("b is not running");
        assert_eq!(why, vec!["changefeed b: starting: starting".to_string()]);
        b.set_state("b", ChangefeedState::Running, None);
        assert!(b.readiness().is_ok());
    }
}
