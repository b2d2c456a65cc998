//! Fault injection on the model: broken store streams, stores down or removed from the
//! cluster (tombstone), `server_is_busy` and `congested` answers, held incremental scans,
//! stalled resolved ts, regions PD does not report (a hole in its region scans).
//!
//! Guarantees: each fault acts only on the store or region it names, and lasts until undone
//! (or, for `server_is_busy`, for the given number of registrations).

use tidb_changefeed::proto::cdcpb;

use super::{ConnId, DsKey, Model, cdc_error};

impl Model {
    /// Break every stream of a store with `status` (store crash / restart).
    pub fn break_store_streams(&mut self, store: u64, status: &tonic::Status) {
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.store == store)
            .map(|(id, _)| *id)
            .collect();
        for id in conns {
            if let Some(c) = self.conns.get(&id) {
                let _ = c.sink.send(Err(status.clone()));
            }
            self.close_conn(id);
        }
    }

    /// Mark a store up or down (PD keeps listing it either way).
    pub fn set_store_up(&mut self, store: u64, up: bool) {
        if let Some(s) = self.topo.stores.get_mut(&store) {
            s.up = up;
        }
    }

    /// Mark a store removed from the cluster, as PD does once it is buried: `GetStore`
    /// answers it with state Tombstone (node state Removed) and `GetAllStores` excludes it
    /// when asked. Its regions keep naming it the leader until they are moved
    /// ([`Model::transfer_leader`], [`Model::remove_peer`]), as PD's region info does until
    /// the other peers elect a leader and report it.
    pub fn set_store_tombstone(&mut self, store: u64) {
        if let Some(s) = self.topo.stores.get_mut(&store) {
            s.tombstone = true;
            s.up = false;
        }
    }

    /// Hide `region` from PD's answers (`hidden`) or show it again: while hidden, PD's
    /// region scans leave a hole where it is and `GetRegion` finds no region there. TiKV
    /// still serves it.
    pub fn hide_region(&mut self, region: u64, hidden: bool) {
        if hidden {
            self.faults.hidden_regions.insert(region);
        } else {
            self.faults.hidden_regions.remove(&region);
        }
    }

    /// Whether PD hides `region` (see [`Model::hide_region`]).
    #[must_use]
    pub fn region_hidden(&self, region: u64) -> bool {
        self.faults.hidden_regions.contains(&region)
    }

    /// Answer the next `count` registrations on `store` with `server_is_busy`.
    pub fn inject_server_busy(&mut self, store: u64, count: u32, backoff_ms: u64) {
        self.faults.busy.insert(store, (count, backoff_ms));
    }

    /// Fail every subscription of `region` with `congested` (sink memory quota).
    pub fn inject_congested(&mut self, region: u64) {
        let mut err = cdc_error();
        err.congested = Some(cdcpb::Congested { region_id: region });
        self.fail_region(region, &err);
    }

    /// Make the next incremental scans of `region` wait for [`Model::release_scan`]
    /// (live events flow meanwhile, before INITIALIZED).
    pub fn hold_scans(&mut self, region: u64) {
        self.faults.hold_scan.insert(region);
    }

    /// Deliver held scans of `region` (rows from the registration snapshot, then
    /// INITIALIZED) and stop holding.
    pub fn release_scan(&mut self, region: u64) {
        self.faults.hold_scan.remove(&region);
        let keys: Vec<DsKey> = self
            .held_scans
            .keys()
            .filter(|k| k.2 == region)
            .copied()
            .collect();
        for k in keys {
            if let Some(rows) = self.held_scans.remove(&k) {
                self.finish_scan(k, rows);
            }
        }
    }

    /// Suspend or resume resolved-ts ticks of a store.
    pub fn stall_resolved_ts(&mut self, store: u64, stalled: bool) {
        if stalled {
            self.faults.stall.insert(store);
        } else {
            self.faults.stall.remove(&store);
        }
    }
}
