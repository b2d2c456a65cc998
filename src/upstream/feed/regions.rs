//! The region lifecycle of a feed: locate the regions of a range through PD, register each
//! on its leader's store from a resolved ts, deregister it, and recover it after an error.
//!
//! Guarantees: every registration has its own request id, so it never collides with an
//! older one of the same region still alive on TiKV (`duplicate_request`); the older one
//! is deregistered and whatever it still sends is ignored. A range is registered only when
//! PD's regions cover it without a hole (regions moving during a split or merge), else the
//! scan is retried after a backoff, and whatever covered the range before keeps holding
//! the span's frontier; the regions found resume from the oldest resolved ts of what they
//! replace. Recovery, by error: `epoch_not_match`, `region_not_found` and unknown ones
//! re-locate the region's range through PD and register the regions found from the
//! region's own resolved ts; `not_leader` retries on the hinted leader (or re-locates
//! without a hint); `server_is_busy`/`congested` retry the region after a bounded jittered
//! backoff; a broken store stream (or one that cannot be opened) re-locates every region
//! of that stream after a backoff. Every retry is bounded (at most 2 s apart) and endless;
//! a failing region scan (PD), a scan with a hole (the span) and a stream that cannot be
//! opened (the store) are reported to the feed's `UpstreamHealth` and cleared by the next
//! success, so one that lasts is shown to the operator. A store PD reports removed from
//! the cluster (tombstone, or no longer listed) is never dialed: the regions PD still
//! places on it are re-loaded from PD (with backoff) until it names their new leaders, and
//! it is reported as removed, not unreachable. A store's fault clears when its stream
//! opens or when nothing waits on it any more (`store_waits`).

use std::time::{Duration, Instant};

use super::driver::{Ctl, Driver};
use super::errors::RegionAction;
use super::registrations::{RegionKey, RegionState};
use super::store_stream::{RequestTx, StreamKey, deregister_request, register_request};
use crate::metrics as m;
use crate::proto::metapb;
use crate::upstream::error::UpstreamError;
use crate::upstream::health::{
    Component, pd_action, regions_action, store_action, store_removed_action,
};
use crate::upstream::matcher::Matcher;
use crate::upstream::pd::RegionInfo;

impl Driver {
    /// Scans PD for the regions of `[start, end)` ∩ span and registers each from `ts`.
    pub(super) async fn relocate(
        &mut self,
        span_id: u64,
        start: &[u8],
        end: &[u8],
        ts: u64,
    ) -> Result<(), UpstreamError> {
        let Some(sp) = self.spans.get(span_id) else {
            return Ok(());
        };
        let (start, end) = sp.clip(start, end);
        let regions = match self.pd.scan_regions(&start, &end).await {
            Ok(r) => {
                self.health.recovered(Component::Pd);
                r
            }
            Err(e) => {
                tracing::warn!(error = %e, "region scan failed; retrying");
                self.health
                    .failed(Component::Pd, e.to_string(), pd_action(self.pd.endpoints()));
                let _ = self.pd.reconnect().await;
                self.schedule(backoff(3), Ctl::Relocate(span_id, start, end, ts));
                return Ok(());
            }
        };
        if !covers(&regions, &start, &end) {
            // Regions with holes (a split or merge in flight in PD): whatever covered the
            // range keeps holding the frontier; try again until PD covers it.
            tracing::info!(
                start = %hex::encode(&start),
                end = %hex::encode(&end),
                "region scan has holes; retrying"
            );
            metrics::counter!(m::UPSTREAM_REGION_ERRORS_TOTAL, "kind" => "region_holes")
                .increment(1);
            self.health.failed(
                Component::Regions(span_id),
                format!(
                    "PD's regions do not cover [{}, {}) without a hole",
                    hex::encode(&start),
                    hex::encode(&end)
                ),
                regions_action(),
            );
            self.schedule(backoff(3), Ctl::Relocate(span_id, start, end, ts));
            return Ok(());
        }
        self.health.recovered(Component::Regions(span_id));
        // Whatever covered this range before (a split parent, merge sources, a region
        // waiting for a retry) is replaced; resume from the oldest of their resolved ts.
        let ts = self
            .spans
            .get_mut(span_id)
            .and_then(|s| s.frontier.take_overlapping(&start, &end))
            .map_or(ts, |t| t.min(ts));
        let touched = self.waits.take_overlapping(span_id, &start, &end);
        for RegionInfo { region, leader } in regions {
            self.register_region(span_id, region, leader.map(|p| p.store_id), ts)
                .await?;
        }
        self.settle(touched);
        Ok(())
    }

    /// Registers one region of a span on its leader's store (or `store`).
    pub(super) async fn register(
        &mut self,
        span_id: u64,
        region: metapb::Region,
        store: Option<u64>,
        ts: u64,
    ) -> Result<(), UpstreamError> {
        let Some(sp) = self.spans.get(span_id) else {
            return Ok(());
        };
        let (start, end) = sp.clip(&region.start_key, &region.end_key);
        let touched = self.waits.take_overlapping(span_id, &start, &end);
        self.register_region(span_id, region, store, ts).await?;
        self.settle(touched);
        Ok(())
    }

    /// Clears the fault of each store in `stores` that nothing waits on any more: its
    /// ranges were registered elsewhere, re-located or dropped with their span.
    pub(super) fn settle(&mut self, stores: Vec<u64>) {
        for store_id in stores {
            if self.waits.idle(store_id) {
                self.health.recovered(Component::Store(store_id));
            }
        }
    }

    /// [`Driver::register`] without settling the stores' waits.
    async fn register_region(
        &mut self,
        span_id: u64,
        region: metapb::Region,
        store: Option<u64>,
        ts: u64,
    ) -> Result<(), UpstreamError> {
        let Some(sp) = self.spans.get(span_id) else {
            return Ok(());
        };
        let range = sp.clip(&region.start_key, &region.end_key);
        let Some(store_id) = store.or_else(|| region.peers.first().map(|p| p.store_id)) else {
            self.relocate_later(backoff(3), span_id, &region, ts);
            return Ok(());
        };
        match self.streams.get_or_open(&self.pd, store_id, span_id).await {
            Ok((key, sender)) => {
                self.waits.clear_store(store_id);
                self.health.recovered(Component::Store(store_id));
                self.subscribe(span_id, region, range, ts, key, &sender);
            }
            Err(err) => {
                match &err {
                    // Gone for good: never dialed again while PD says so; its regions are
                    // re-loaded from PD until it names their new leaders.
                    UpstreamError::StoreTombstone { .. } | UpstreamError::StoreNotFound { .. } => {
                        tracing::warn!(store_id, region_id = region.id, error = %err,
                            "store removed from the cluster; re-loading the region from PD");
                        self.health.failed(
                            Component::Store(store_id),
                            store_removed_error(&err, store_id),
                            store_removed_action(store_id),
                        );
                    }
                    _ => {
                        tracing::warn!(store_id, error = %err, "cannot open EventFeed; re-locating later");
                        self.health.failed(
                            Component::Store(store_id),
                            err.to_string(),
                            store_action(store_id),
                        );
                    }
                }
                self.waits.wait(store_id, span_id, &range.0, &range.1);
                if let Some(sp) = self.spans.get_mut(span_id) {
                    sp.frontier.remove(region.id);
                    sp.frontier.insert(region.id, range.0, range.1, ts);
                }
                let a = self.regions.bump((span_id, region.id));
                self.relocate_later(backoff(a), span_id, &region, ts);
            }
        }
        Ok(())
    }

    /// Sends the Register of `region` (its `range` within the span) on the stream `key`,
    /// replacing any registration of it; on a closed stream, retries the region later.
    fn subscribe(
        &mut self,
        span_id: u64,
        region: metapb::Region,
        range: (Vec<u8>, Vec<u8>),
        ts: u64,
        key: StreamKey,
        sender: &RequestTx,
    ) {
        let request_id = self.regions.new_request_id();
        let old = self.regions.remove((span_id, region.id));
        if let Some(old) = &old {
            self.deregister(old, region.id);
        }
        let req = register_request(self.pd.cluster_id(), &region, range.clone(), ts, request_id);
        if let Some(sp) = self.spans.get_mut(span_id) {
            sp.frontier.insert(region.id, range.0, range.1, ts);
        }
        if sender.send(req).is_err() {
            if old.is_some() {
                metrics::gauge!(m::UPSTREAM_REGIONS_SUBSCRIBED).decrement(1.0);
            }
            self.streams.remove(key);
            self.schedule(backoff(1), Ctl::RetryRegion(span_id, region, ts));
            return;
        }
        self.regions.insert(
            (span_id, region.id),
            RegionState {
                matcher: Matcher::with_store(region.id, self.prewrites.clone()),
                request_id,
                region,
                stream: key,
                registered_at: Instant::now(),
            },
        );
        if old.is_none() {
            metrics::gauge!(m::UPSTREAM_REGIONS_SUBSCRIBED).increment(1.0);
        }
    }

    /// Sends `Deregister` for a registration on its stream.
    pub(super) fn deregister(&self, r: &RegionState, region_id: u64) {
        if let Some(tx) = self.streams.sender(r.stream) {
            let _ = tx.send(deregister_request(
                self.pd.cluster_id(),
                region_id,
                r.request_id,
            ));
        }
    }

    /// Re-locates the range of `region` after `delay`.
    fn relocate_later(&self, delay: Duration, span_id: u64, region: &metapb::Region, ts: u64) {
        self.schedule(
            delay,
            Ctl::Relocate(
                span_id,
                region.start_key.clone(),
                region.end_key.clone(),
                ts,
            ),
        );
    }

    /// A store stream ended: every region registered on it is re-located after a backoff.
    pub(super) fn on_stream_end(&mut self, key: StreamKey, detail: &str) {
        let store_id = key.0;
        tracing::warn!(
            store_id,
            detail,
            "EventFeed stream ended; re-locating its regions"
        );
        metrics::counter!(m::UPSTREAM_STREAM_RECONNECTS_TOTAL, "store" => store_id.to_string())
            .increment(1);
        self.streams.remove(key);
        for id in self.regions.on_stream(key) {
            if let Some(r) = self.regions.remove(id) {
                metrics::gauge!(m::UPSTREAM_REGIONS_SUBSCRIBED).decrement(1.0);
                let Some(ts) = self.spans.resume_ts(id.0, id.1) else {
                    continue;
                };
                let a = self.regions.bump(id);
                self.relocate_later(
                    backoff(a).max(Duration::from_millis(500)),
                    id.0,
                    &r.region,
                    ts,
                );
            }
        }
    }

    /// Drops the registration `k` after a region error and recovers it as `action` says,
    /// from the region's resolved ts.
    pub(super) fn recover(
        &mut self,
        k: RegionKey,
        store_id: u64,
        kind: &'static str,
        action: RegionAction,
    ) {
        let region_id = k.1;
        let Some(r) = self.regions.remove(k) else {
            return;
        };
        metrics::gauge!(m::UPSTREAM_REGIONS_SUBSCRIBED).decrement(1.0);
        let Some(ts) = self.spans.resume_ts(k.0, region_id) else {
            return;
        };
        let a = self.regions.bump(k);
        tracing::info!(region_id, store_id, kind, ts, "region error");
        let on_store = |region: metapb::Region, store: u64| metapb::Region {
            peers: vec![metapb::Peer {
                store_id: store,
                ..Default::default()
            }],
            ..region
        };
        match action {
            RegionAction::RetryOn(leader) => {
                self.retry_now(Ctl::RetryRegion(k.0, on_store(r.region, leader), ts));
            }
            RegionAction::Backoff(min) => {
                let d = backoff(a).max(min);
                self.schedule(d, Ctl::RetryRegion(k.0, on_store(r.region, store_id), ts));
            }
            RegionAction::Relocate => {
                self.relocate_later(backoff(a.saturating_sub(1)), k.0, &r.region, ts);
            }
        }
    }
}

/// What the health record says of a store PD reports removed.
fn store_removed_error(err: &UpstreamError, store_id: u64) -> String {
    match err {
        UpstreamError::StoreNotFound { .. } => {
            format!("store {store_id} was removed from the cluster (PD no longer lists it)")
        }
        other => other.to_string(),
    }
}

/// Whether `regions` (in key order) cover encoded `[start, end)` without a hole.
fn covers(regions: &[RegionInfo], start: &[u8], end: &[u8]) -> bool {
    let mut cursor = start.to_vec();
    for r in regions {
        if r.region.start_key.as_slice() > cursor.as_slice() {
            return false;
        }
        if r.region.end_key.is_empty() {
            return true;
        }
        if r.region.end_key > cursor {
            cursor = r.region.end_key.clone();
        }
        if !end.is_empty() && cursor.as_slice() >= end {
            return true;
        }
    }
    false
}

/// Jittered exponential backoff: 50 ms doubling to 2 s (TiCDC's region recovery delay).
fn backoff(attempt: u32) -> Duration {
    let base = 50u64.saturating_mul(1 << attempt.min(6)).min(2000);
    let nanos = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    );
    Duration::from_millis(base / 2 + nanos % (base / 2 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_region_scan_cover_detects_holes() {
        let r = |s: &[u8], e: &[u8]| RegionInfo {
            region: metapb::Region {
                start_key: s.to_vec(),
                end_key: e.to_vec(),
                ..Default::default()
            },
            leader: None,
        };
        assert!(covers(&[r(b"", b"b"), r(b"b", b"")], b"", b""));
        assert!(covers(&[r(b"a", b"c"), r(b"c", b"f")], b"b", b"e"));
        assert!(
            !covers(&[r(b"", b"b"), r(b"c", b"")], b"", b""),
            "hole [b, c)"
        );
        assert!(!covers(&[r(b"", b"b")], b"", b"c"), "hole at the end");
        assert!(!covers(&[r(b"b", b"")], b"a", b""), "hole at the start");
        assert!(!covers(&[], b"a", b"b"));
    }

    #[test]
    fn upstream_backoff_is_bounded() {
        for a in 0..40 {
            assert!(backoff(a) <= Duration::from_millis(2000));
        }
    }
}
