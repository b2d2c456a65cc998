//! Upstream health: the PD, store and region-scan failures the upstream client is riding
//! out with its bounded retries, so they are reported instead of looping unseen.
//!
//! Owns one record per failing component of one changefeed's upstream: PD (unreachable or
//! failing RPCs, seen by the GC safe point keeper's probe and the feed's region scans), a
//! TiKV store (its EventFeed stream cannot be opened), the regions of a span (PD's region
//! scan keeps leaving a hole). The retrying code calls [`UpstreamHealth::failed`] on each
//! failed attempt and [`UpstreamHealth::recovered`] on success. Guarantees: a component is
//! reported by [`UpstreamHealth::escalated`] only once it has failed without a success for
//! longer than the threshold (`[upstream] fault-report-after`), with its first failure time, last error and what the operator
//! should check; each such escalation counts once in
//! `tidb_changefeed_upstream_escalations_total{kind}`; a success forgets it at once.
//! Cloning shares the record.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics as m;

/// What fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    Pd,
    Store(u64),
    /// The regions of one span (feed span id).
    Regions(u64),
}

impl Component {
    /// The name shown in the status API and metrics.
    pub fn name(self) -> String {
        match self {
            Component::Pd => "pd".to_string(),
            Component::Store(id) => format!("store {id}"),
            Component::Regions(_) => "regions".to_string(),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Component::Pd => "pd",
            Component::Store(_) => "store",
            Component::Regions(_) => "region_holes",
        }
    }
}

/// One failing component as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    pub component: String,
    pub error: String,
    pub action: String,
    /// Unix milliseconds of the first failure of this run.
    pub since_ms: i64,
}

#[derive(Debug)]
struct Episode {
    started: Instant,
    since_ms: i64,
    error: String,
    action: String,
    counted: bool,
}

/// The failing components of one changefeed's upstream.
#[derive(Debug, Clone, Default)]
pub struct UpstreamHealth {
    inner: Arc<Mutex<BTreeMap<Component, Episode>>>,
}

impl UpstreamHealth {
    pub fn new() -> Self {
        Self::default()
    }

    /// An attempt on `component` failed with `error`; `action` says what the operator
    /// should check.
    pub fn failed(
        &self,
        component: Component,
        error: impl Into<String>,
        action: impl Into<String>,
    ) {
        let (error, action) = (error.into(), action.into());
        self.with(|m| {
            let e = m.entry(component).or_insert_with(|| Episode {
                started: Instant::now(),
                since_ms: chrono::Utc::now().timestamp_millis(),
                error: String::new(),
                action: String::new(),
                counted: false,
            });
            e.error = error;
            e.action = action;
        });
    }

    /// An attempt on `component` succeeded.
    pub fn recovered(&self, component: Component) {
        self.with(|m| {
            m.remove(&component);
        });
    }

    /// Whether `component` is failing now (reported or not yet).
    pub fn is_failing(&self, component: Component) -> bool {
        let mut failing = false;
        self.with(|m| failing = m.contains_key(&component));
        failing
    }

    /// The components failing for longer than `threshold`, oldest first.
    pub fn escalated(&self, threshold: Duration) -> Vec<Escalation> {
        let mut out = Vec::new();
        self.with(|map| {
            for (c, e) in map.iter_mut() {
                if e.started.elapsed() < threshold {
                    continue;
                }
                if !e.counted {
                    e.counted = true;
                    metrics::counter!(m::UPSTREAM_ESCALATIONS_TOTAL, "kind" => c.kind())
                        .increment(1);
                    tracing::error!(component = %c.name(), error = %e.error, action = %e.action,
                        failing_for = ?e.started.elapsed(), "upstream failure keeps being retried");
                }
                out.push(Escalation {
                    component: c.name(),
                    error: e.error.clone(),
                    action: e.action.clone(),
                    since_ms: e.since_ms,
                });
            }
        });
        out.sort_by_key(|e| e.since_ms);
        out
    }

    fn with(&self, f: impl FnOnce(&mut BTreeMap<Component, Episode>)) {
        match self.inner.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// What to check when PD does not answer.
pub fn pd_action(endpoints: &[String]) -> String {
    format!(
        "check that PD answers at {} ([upstream] pd) from this host (`pd-ctl -u <url> member`), the network between them, and the TLS settings ([upstream.tls]) if PD uses TLS",
        endpoints.join(", ")
    )
}

/// What to check when a store's stream cannot be opened.
pub fn store_action(store_id: u64) -> String {
    format!(
        "check TiKV store {store_id} with `pd-ctl store {store_id}` (state Up/Offline/Tombstone, last heartbeat) and that its address is reachable from this host; while PD still names it the leader of regions, those regions are retried and their tables' checkpoint waits"
    )
}

/// What to check when PD reports a store removed from the cluster but still places regions
/// of the changefeed on it.
pub fn store_removed_action(store_id: u64) -> String {
    format!(
        "TiKV store {store_id} is gone for good (`pd-ctl store {store_id}` shows Tombstone, or PD no longer lists it) and is not dialed again; PD still names it the leader of regions of this changefeed, which are re-loaded from PD until it names their new leaders: check `pd-ctl region store {store_id}` for regions still placed on it and that their peers elsewhere elected a leader; their tables' checkpoint waits meanwhile"
    )
}

/// What to check when PD's regions keep leaving a hole in a span.
pub fn regions_action() -> String {
    "check the range with `pd-ctl region key <key>` / `pd-ctl region check miss-peer` and for a split or merge that does not finish; the span's checkpoint waits until PD reports regions covering it".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_only_past_the_threshold_and_forgotten_on_success() {
        let h = UpstreamHealth::new();
        h.failed(Component::Store(4), "refused", "check store 4");
        assert!(h.escalated(Duration::from_secs(60)).is_empty(), "not yet");
        let first = h.escalated(Duration::ZERO);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].component, "store 4");
        h.failed(Component::Store(4), "timed out", "check store 4");
        let again = h.escalated(Duration::ZERO);
        assert_eq!(again[0].error, "timed out", "the last error");
        assert_eq!(
            again[0].since_ms, first[0].since_ms,
            "the first failure time"
        );
        assert!(h.is_failing(Component::Store(4)));
        h.recovered(Component::Store(4));
        assert!(h.escalated(Duration::ZERO).is_empty());
        assert!(!h.is_failing(Component::Store(4)));
    }
}
