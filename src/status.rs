//! The observable state of the process: per changefeed its lifecycle state, progress, last
//! error and the faults it is riding out. Changefeed tasks write it; `/readyz`,
//! `/api/v1/status` and the progress metrics read it. Cloning a [`StatusBoard`] shares the
//! same state.
//!
//! A [`Fault`] is a problem a running changefeed keeps retrying without restarting (the
//! checkpoint cannot be saved, PD or a store unreachable past a threshold, regions that never
//! cover a span): while one is raised the changefeed shows as `retrying`, with each fault's
//! error, what the operator should check and since when, and `/readyz` is false; clearing
//! the last one shows it `running` again.
//!
//! [`AdminState`] is what the operator asked of a changefeed (normal, paused, removed); the
//! state store keeps it (`checkpoint::admin`) and the status shows it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use serde::Deserialize;

use crate::metrics;

/// What the operator asked of a changefeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminState {
    /// Replicating (TiCDC's `normal`).
    #[default]
    Normal,
    /// Drained and stopped; its PD service GC safepoint is kept (TiCDC's `stopped`).
    Paused,
    /// Stopped for good: its GC safepoint and checkpoint are gone (TiCDC's `removed`).
    Removed,
}

impl AdminState {
    pub const ALL: [AdminState; 3] = [AdminState::Normal, AdminState::Paused, AdminState::Removed];

    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Normal => "normal",
            AdminState::Paused => "paused",
            AdminState::Removed => "removed",
        }
    }

    /// The state of its stored name.
    pub fn parse(s: &str) -> Option<AdminState> {
        AdminState::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

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
    /// Owned by another daemon (or waiting for its lease to end): this daemon takes it
    /// over when the owner is gone or hands it off.
    Standby,
    /// Paused by the operator: drained, checkpoint saved, its GC safepoint kept.
    Paused,
    /// Removed by the operator: its GC safepoint and checkpoint are gone.
    Removed,
}

impl ChangefeedState {
    pub const ALL: [ChangefeedState; 9] = [
        ChangefeedState::Starting,
        ChangefeedState::Running,
        ChangefeedState::Retrying,
        ChangefeedState::Stopping,
        ChangefeedState::Stopped,
        ChangefeedState::Failed,
        ChangefeedState::Standby,
        ChangefeedState::Paused,
        ChangefeedState::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangefeedState::Starting => "starting",
            ChangefeedState::Running => "running",
            ChangefeedState::Retrying => "retrying",
            ChangefeedState::Stopping => "stopping",
            ChangefeedState::Stopped => "stopped",
            ChangefeedState::Failed => "failed",
            ChangefeedState::Standby => "standby",
            ChangefeedState::Paused => "paused",
            ChangefeedState::Removed => "removed",
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
    /// Problems being retried while the changefeed runs, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
    /// With the SQL state store: who holds the changefeed's lease, as the table says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseView>,
    /// What the operator asked: `normal`, `paused` or `removed` (the state store's value).
    pub admin_state: AdminState,
    /// A warning the operator should read, e.g. a paused checkpoint about to fall behind
    /// GC (TiCDC's `ErrGCTTLExceeded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A changefeed's lease as the state table shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaseView {
    /// The owning daemon (`[ha] daemon-id`), none when nobody holds it.
    pub owner: Option<String>,
    /// The owner's status URL, when it is a live member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_url: Option<String>,
    /// Bumped at every take-over: writes of an older epoch are refused.
    pub epoch: u64,
    /// Milliseconds the lease still runs by the store's clock (negative: ended).
    pub remaining_ms: i64,
}

/// The daemons sharing the state table, as this daemon last read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterView {
    /// This daemon's id.
    pub daemon_id: String,
    /// The state store (no password).
    pub store: String,
    /// Live daemons, this one included once it has registered.
    pub members: Vec<MemberView>,
    /// When the table was last read successfully, RFC 3339.
    pub updated: Option<String>,
    /// Why the last read failed, while it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One live daemon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberView {
    pub id: String,
    pub status_url: String,
    /// The changefeeds whose lease it holds.
    pub owns: Vec<String>,
}

/// One problem a running changefeed keeps retrying.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    /// What fails: `checkpoint`, `pd`, `store <id>`, `regions`.
    pub component: String,
    /// The last error.
    pub error: String,
    /// What the operator should check.
    pub action: String,
    /// When it started failing, RFC 3339.
    pub since: String,
    /// Who raises and clears it (the checkpoint tick, the upstream health report).
    #[serde(skip)]
    pub group: &'static str,
    #[serde(skip)]
    pub since_ms: i64,
}

impl Fault {
    /// A fault of `group` on `component` failing since `since_ms` (Unix milliseconds).
    pub fn new(
        group: &'static str,
        component: impl Into<String>,
        error: impl Into<String>,
        action: impl Into<String>,
        since_ms: i64,
    ) -> Self {
        Fault {
            component: component.into(),
            error: error.into(),
            action: action.into(),
            since: chrono::DateTime::from_timestamp_millis(since_ms)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default(),
            group,
            since_ms,
        }
    }

    fn summary(&self) -> String {
        format!(
            "{} failing since {}: {}; {}",
            self.component, self.since, self.error, self.action
        )
    }
}

/// Shared status of every changefeed of the process.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    inner: Arc<RwLock<BTreeMap<String, ChangefeedStatus>>>,
    cluster: Arc<RwLock<Option<ClusterView>>>,
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
                    faults: Vec::new(),
                    lease: None,
                    admin_state: AdminState::Normal,
                    warning: None,
                },
            );
        });
        publish_state(id, ChangefeedState::Starting);
    }

    /// Moves a changefeed to `state`, with the reason shown while it is not running. Moving
    /// out of `running` drops the faults of that run (a restart re-raises what persists).
    pub fn set_state(&self, id: &str, state: ChangefeedState, reason: Option<String>) {
        let mut shown = state;
        self.write(|m| {
            if let Some(s) = m.get_mut(id) {
                if s.state != state {
                    s.state_since = now_rfc3339();
                }
                s.state = state;
                s.reason = reason;
                if state != ChangefeedState::Running {
                    clear_fault_metrics(id, &s.faults);
                    s.faults.clear();
                }
                shown = effective(s).0;
            }
        });
        publish_state(id, shown);
    }

    /// Replaces the faults `group` raised on changefeed `id` with `faults` (a fault already
    /// raised on the same component keeps its `since`).
    pub fn set_faults(&self, id: &str, group: &'static str, faults: Vec<Fault>) {
        let mut shown = None;
        self.write(|m| {
            let Some(s) = m.get_mut(id) else {
                return;
            };
            let (old, kept): (Vec<Fault>, Vec<Fault>) =
                s.faults.drain(..).partition(|f| f.group == group);
            s.faults = kept;
            let gone: Vec<Fault> = old
                .iter()
                .filter(|o| !faults.iter().any(|f| f.component == o.component))
                .cloned()
                .collect();
            clear_fault_metrics(id, &gone);
            for mut f in faults {
                f.group = group;
                if let Some(o) = old.iter().find(|o| o.component == f.component)
                    && o.since_ms < f.since_ms
                {
                    f.since_ms = o.since_ms;
                    f.since.clone_from(&o.since);
                }
                ::metrics::gauge!(metrics::FAULT_SINCE_SECONDS, "changefeed" => id.to_string(), "component" => f.component.clone())
                    .set(f.since_ms as f64 / 1000.0);
                s.faults.push(f);
            }
            s.faults.sort_by_key(|f| f.since_ms);
            shown = Some(effective(s).0);
        });
        if let Some(state) = shown {
            publish_state(id, state);
        }
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

    /// Shows changefeed `id`'s lease as the state table holds it.
    pub fn set_lease(&self, id: &str, lease: Option<LeaseView>) {
        self.write(|m| {
            if let Some(s) = m.get_mut(id) {
                s.lease = lease;
            }
        });
    }

    /// Shows changefeed `id`'s admin state as stored.
    pub fn set_admin(&self, id: &str, admin: AdminState) {
        self.write(|m| {
            if let Some(s) = m.get_mut(id) {
                s.admin_state = admin;
            }
        });
        for a in AdminState::ALL {
            ::metrics::gauge!(metrics::CHANGEFEED_ADMIN_STATE, "changefeed" => id.to_string(), "state" => a.as_str())
                .set(if a == admin { 1.0 } else { 0.0 });
        }
    }

    /// Shows (or clears) a warning on changefeed `id`.
    pub fn set_warning(&self, id: &str, warning: Option<String>) {
        self.write(|m| {
            if let Some(s) = m.get_mut(id) {
                s.warning = warning;
            }
        });
    }

    /// One changefeed as shown, if it is configured.
    pub fn get(&self, id: &str) -> Option<ChangefeedStatus> {
        self.snapshot().into_iter().find(|s| s.id == id)
    }

    /// Replaces the view of the daemons sharing the state table.
    pub fn set_cluster(&self, view: ClusterView) {
        match self.cluster.write() {
            Ok(mut c) => *c = Some(view),
            Err(poisoned) => *poisoned.into_inner() = Some(view),
        }
    }

    /// The view of the daemons sharing the state table (none with the file store).
    pub fn cluster(&self) -> Option<ClusterView> {
        match self.cluster.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Every changefeed as shown: a running one with faults is `retrying`, with the oldest
    /// fault as the reason.
    pub fn snapshot(&self) -> Vec<ChangefeedStatus> {
        let shown = |s: &ChangefeedStatus| {
            let (state, reason) = effective(s);
            // A fault shows a running changefeed as retrying since the oldest fault.
            let state_since = match s.faults.first() {
                Some(f) if state != s.state => f.since.clone(),
                _ => s.state_since.clone(),
            };
            ChangefeedStatus {
                state,
                state_since,
                reason,
                ..s.clone()
            }
        };
        match self.inner.read() {
            Ok(m) => m.values().map(shown).collect(),
            Err(poisoned) => poisoned.into_inner().values().map(shown).collect(),
        }
    }

    /// Ready when at least one changefeed exists and every changefeed is running, on
    /// standby (another daemon owns it), or paused or removed by the operator. Otherwise the
    /// reasons, one per changefeed that is not.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let snap = self.snapshot();
        if snap.is_empty() {
            return Err(vec!["no changefeed is configured".to_string()]);
        }
        let store_down = self
            .cluster()
            .and_then(|c| c.error)
            .map(|e| format!("the state store cannot be read: {e}"));
        let reasons: Vec<String> = store_down
            .into_iter()
            .chain(
                snap.iter()
                    .filter(|s| {
                        !matches!(
                            s.state,
                            ChangefeedState::Running
                                | ChangefeedState::Standby
                                | ChangefeedState::Paused
                                | ChangefeedState::Removed
                        )
                    })
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
                    }),
            )
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

/// The state and reason shown for `s`.
fn effective(s: &ChangefeedStatus) -> (ChangefeedState, Option<String>) {
    match s.faults.first() {
        Some(f) if s.state == ChangefeedState::Running => {
            (ChangefeedState::Retrying, Some(f.summary()))
        }
        _ => (s.state, s.reason.clone()),
    }
}

fn clear_fault_metrics(id: &str, faults: &[Fault]) {
    for f in faults {
        ::metrics::gauge!(metrics::FAULT_SINCE_SECONDS, "changefeed" => id.to_string(), "component" => f.component.clone())
            .set(0.0);
    }
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

    #[test]
    fn a_fault_shows_retrying_until_cleared() {
        let b = StatusBoard::new();
        b.register("a");
        b.set_state("a", ChangefeedState::Running, None);
        let f = |since| Fault::new("g", "pd", "unreachable", "check PD", since);
        b.set_faults("a", "g", vec![f(1_000)]);
        b.set_faults(
            "a",
            "other",
            vec![Fault::new("other", "checkpoint", "full", "free", 5_000)],
        );
        b.set_faults("a", "g", vec![f(2_000)]);
        let s = &b.snapshot()[0];
        assert_eq!(s.state, ChangefeedState::Retrying);
        assert_eq!(s.faults.len(), 2);
        assert_eq!(s.faults[0].since_ms, 1_000, "a fault keeps its first since");
        assert_eq!(s.faults[0].since, "1970-01-01T00:00:01.000Z");
        let why = b.readiness().expect_err("faulted");
        assert!(
            why[0].contains("pd failing since 1970-01-01T00:00:01.000Z: unreachable; check PD"),
            "{why:?}"
        );
        b.set_faults("a", "g", Vec::new());
        assert_eq!(
            b.snapshot()[0].faults.len(),
            1,
            "the other group's fault stays"
        );
        b.set_faults("a", "other", Vec::new());
        assert!(b.readiness().is_ok());
        assert_eq!(b.snapshot()[0].state, ChangefeedState::Running);
        let json = serde_json::to_string(&b.snapshot()[0]).expect("json");
        assert!(!json.contains("faults"), "{json}");
    }
}
