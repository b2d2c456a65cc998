//! What PD answers from the model: its members and leader, whether it is unavailable, and GC
//! safe points (service safe points with TTLs, the GC worker's safe point, a GC run).
//!
//! Guarantees (classic `UpdateServiceGCSafePoint`): a TTL ≤ 0 deletes the service's entry, a
//! safe point below the current minimum is refused, every answer carries the minimum; GC
//! never passes the minimum service safe point.

use std::time::{Duration, Instant};

use super::{Model, ServiceSafePoint};

/// Result of `UpdateServiceGCSafePoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcUpdate {
    /// Service holding the minimum.
    pub service_id: Vec<u8>,
    /// Remaining TTL of that service, seconds.
    pub ttl: i64,
    /// Minimum over all services.
    pub min_safe_point: u64,
    /// Whether the request's safe point was stored.
    pub updated: bool,
}

/// GC service id of TiDB's GC worker.
pub const GC_WORKER: &[u8] = b"gc_worker";

impl Model {
    /// Record the PD members' addresses (done by the server at start).
    pub fn set_pd_members(&mut self, addrs: Vec<String>) {
        self.pd_members = addrs;
    }

    /// PD members' addresses, member id `i + 1` at index `i`.
    #[must_use]
    pub fn pd_members(&self) -> &[String] {
        &self.pd_members
    }

    /// Move PD leadership to `member_id` (1-based): the others answer `not leader`.
    pub fn set_pd_leader(&mut self, member_id: u64) {
        self.pd_leader = member_id;
    }

    /// Member id of the PD leader.
    #[must_use]
    pub fn pd_leader(&self) -> u64 {
        self.pd_leader
    }

    /// Make PD answer every RPC but `GetMembers` with `UNAVAILABLE` (or stop doing so).
    pub fn set_pd_unavailable(&mut self, on: bool) {
        self.faults.pd_unavailable = on;
    }

    /// Whether PD currently fails its RPCs (see [`Model::set_pd_unavailable`]).
    #[must_use]
    pub fn pd_unavailable(&self) -> bool {
        self.faults.pd_unavailable
    }

    /// Record that every PD member is stopped (see `Emulator::stop_pd`).
    pub fn set_pd_stopped(&mut self, on: bool) {
        self.faults.pd_stopped = on;
    }

    /// Whether every PD member is stopped: TiKV gets no TSO, so resolved ts stand still.
    #[must_use]
    pub fn pd_stopped(&self) -> bool {
        self.faults.pd_stopped
    }

    // ----- GC ----------------------------------------------------------------

    fn live_service_safe_points(&mut self) {
        let now = Instant::now();
        self.service_safe_points
            .retain(|_, s| s.expire.is_none_or(|e| e > now));
    }

    fn min_service(&self) -> Option<(Vec<u8>, &ServiceSafePoint)> {
        self.service_safe_points
            .iter()
            .min_by_key(|(_, s)| s.safe_point)
            .map(|(k, s)| (k.clone(), s))
    }

    /// A service's live safe point and its remaining TTL in seconds (for tests).
    #[must_use]
    pub fn service_safe_point(&self, service: &[u8]) -> Option<(u64, u64)> {
        let now = Instant::now();
        self.service_safe_points
            .get(service)
            .filter(|s| s.expire.is_none_or(|e| e > now))
            .map(|s| {
                (
                    s.safe_point,
                    s.expire
                        .map_or(u64::MAX, |e| e.saturating_duration_since(now).as_secs()),
                )
            })
    }

    fn gc_update_of(&self, updated: bool) -> GcUpdate {
        let now = Instant::now();
        match self.min_service() {
            Some((id, s)) => GcUpdate {
                service_id: id,
                ttl: s.expire.map_or(i64::MAX, |e| {
                    i64::try_from(e.saturating_duration_since(now).as_secs()).unwrap_or(i64::MAX)
                }),
                min_safe_point: s.safe_point,
                updated,
            },
            None => GcUpdate {
                service_id: Vec::new(),
                ttl: 0,
                min_safe_point: 0,
                updated,
            },
        }
    }

    /// PD `UpdateServiceGCSafePoint` (classic semantics): TTL ≤ 0 deletes; a safe
    /// point below the current minimum is refused; the answer carries the minimum.
    pub fn update_service_safe_point(
        &mut self,
        service: &[u8],
        ttl: i64,
        safe_point: u64,
    ) -> GcUpdate {
        self.live_service_safe_points();
        if ttl <= 0 {
            if service != GC_WORKER {
                self.service_safe_points.remove(service);
            }
            return self.gc_update_of(false);
        }
        let min = self.min_service().map_or(0, |(_, s)| s.safe_point);
        if safe_point < min {
            return self.gc_update_of(false);
        }
        let ttl_secs = u64::try_from(ttl).unwrap_or(0);
        self.service_safe_points.insert(
            service.to_vec(),
            ServiceSafePoint {
                safe_point,
                expire: Instant::now().checked_add(Duration::from_secs(ttl_secs)),
            },
        );
        self.gc_update_of(true)
    }

    /// The GC safe point (what `GetGCSafePoint` answers).
    #[must_use]
    pub fn gc_safe_point(&self) -> u64 {
        self.gc_safe_point
    }

    /// Run GC as TiDB's GC worker would: the safe point is `target` capped by the
    /// minimum service safe point; history at or below it is compacted.
    pub fn run_gc(&mut self, target: u64) -> u64 {
        self.live_service_safe_points();
        let cap = self
            .service_safe_points
            .iter()
            .filter(|(k, _)| k.as_slice() != GC_WORKER)
            .map(|(_, s)| s.safe_point)
            .min()
            .unwrap_or(u64::MAX);
        let sp = target.min(cap).max(self.gc_safe_point);
        self.gc_safe_point = sp;
        self.service_safe_points.insert(
            GC_WORKER.to_vec(),
            ServiceSafePoint {
                safe_point: sp,
                expire: None,
            },
        );
        self.mvcc.gc(sp);
        sp
    }
}
