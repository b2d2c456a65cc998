//! CDC subscriptions on the model: EventFeed connections, region registrations and
//! deregistrations, incremental scans (held or immediate), live events fanned out to the
//! subscribers of a region, and failing every subscription of a region with one error.
//!
//! Guarantees: messages are queued on the connection before the model's lock is released, in
//! apply order; after an error or deregister nothing more is sent for that
//! `(request_id, region_id)`; a scan sends the snapshot rows, then INITIALIZED.

use tidb_changefeed::proto::cdcpb::{self, change_data_request, event};
use tidb_changefeed::proto::errorpb;

use super::{Conn, ConnId, Downstream, DsKey, Model, Sink, cdc_error};
use crate::feed;
use crate::keyspace::{encode_key, intersect};
use crate::topology::Region;

/// The largest downstream key (the end of a region's range in `ds_by_region`).
const DS_MAX: DsKey = (ConnId::MAX, u64::MAX, u64::MAX);

impl Model {
    // ----- connections and registration -------------------------------------

    /// Open a connection on `store`.
    pub fn open_conn(&mut self, store: u64, sink: Sink, multiplexing_requested: bool) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn {
                store,
                sink,
                multiplexing_requested,
                features: None,
            },
        );
        id
    }

    /// The client half-closed or the stream failed: drop the connection and all
    /// its subscriptions silently (the response stream then ends).
    pub fn close_conn(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
        self.downstreams.retain(|k, _| k.0 != conn);
        self.ds_by_region.retain(|(_, k)| k.0 != conn);
        self.held_scans.retain(|k, _| k.0 != conn);
    }

    /// Whether the connection is still open.
    #[must_use]
    pub fn conn_alive(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// Number of open EventFeed connections on `store` (for tests and diagnostics).
    #[must_use]
    pub fn conn_count(&self, store: u64) -> usize {
        self.conns.values().filter(|c| c.store == store).count()
    }

    /// Number of live subscriptions (for tests and diagnostics).
    #[must_use]
    pub fn subscription_count(&self) -> usize {
        self.downstreams.len()
    }

    pub(super) fn send(&self, conn: ConnId, msg: cdcpb::ChangeDataEvent) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.sink.send(Ok(msg));
        }
    }

    fn send_events(&self, conn: ConnId, events: Vec<cdcpb::Event>) {
        for m in feed::pack_messages(events) {
            self.send(conn, m);
        }
    }

    pub(super) fn send_error(&mut self, key: DsKey, err: cdcpb::Error) {
        self.remove_downstream(key);
        self.held_scans.remove(&key);
        self.send_events(key.0, vec![feed::error_event(key.2, key.1, err)]);
    }

    /// Handle one `ChangeDataRequest` on a connection. Returns `false` when the
    /// connection must be failed (a `NotifyTxnStatus`, on which real TiKV panics).
    pub fn handle_request(&mut self, conn: ConnId, req: &cdcpb::ChangeDataRequest) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else {
            return true;
        };
        if c.features.is_none() {
            let version = req
                .header
                .as_ref()
                .map(|h| h.ticdc_version.as_str())
                .unwrap_or_default();
            c.features = Some(feed::features_for(version, c.multiplexing_requested));
        }
        match &req.request {
            Some(change_data_request::Request::NotifyTxnStatus(_)) => false,
            Some(change_data_request::Request::Deregister(_)) => {
                self.deregister(conn, req.request_id, req.region_id);
                true
            }
            Some(change_data_request::Request::Register(_)) | None => {
                self.register(conn, req);
                true
            }
        }
    }

    fn deregister(&mut self, conn: ConnId, request_id: u64, region_id: u64) {
        let keys: Vec<DsKey> = self
            .downstreams
            .keys()
            .filter(|k| k.0 == conn && k.1 == request_id && (region_id == 0 || k.2 == region_id))
            .copied()
            .collect();
        for k in keys {
            let mut err = cdc_error();
            err.region_not_found = Some(errorpb::RegionNotFound { region_id: k.2 });
            self.send_error(k, err);
        }
    }

    fn register(&mut self, conn: ConnId, req: &cdcpb::ChangeDataRequest) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let store = c.store;
        let features = c.features.unwrap_or_default();
        let key: DsKey = (conn, req.request_id, req.region_id);
        let reject = |m: &mut Self, err: cdcpb::Error| {
            m.send_events(conn, vec![feed::error_event(key.2, key.1, err)]);
        };
        let req_cluster = req.header.as_ref().map_or(0, |h| h.cluster_id);
        if features.validate_cluster_id && req_cluster != self.cluster_id {
            let mut err = cdc_error();
            err.cluster_id_mismatch = Some(cdcpb::ClusterIdMismatch {
                current: self.cluster_id,
                request: req_cluster,
            });
            return reject(self, err);
        }
        if req.kv_api != change_data_request::KvApi::TiDb as i32 {
            let mut err = cdc_error();
            err.compatibility = Some(cdcpb::Compatibility {
                required_version: "6.2.0".into(),
            });
            return reject(self, err);
        }
        if let Some((left, backoff)) = self.faults.busy.get_mut(&store)
            && *left > 0
        {
            *left -= 1;
            let backoff_ms = *backoff;
            let mut err = cdc_error();
            err.server_is_busy = Some(errorpb::ServerIsBusy {
                reason: "too many pending incremental scans".into(),
                backoff_ms,
                estimated_wait_ms: 0,
                applied_index: 0,
            });
            return reject(self, err);
        }
        let region = match self.topo.regions().get(&req.region_id) {
            Some(r) if r.peer_on(store).is_some() => r.clone(),
            _ => {
                let mut err = cdc_error();
                err.region_not_found = Some(errorpb::RegionNotFound {
                    region_id: req.region_id,
                });
                return reject(self, err);
            }
        };
        if self.downstreams.contains_key(&key) || self.held_scans.contains_key(&key) {
            let mut err = cdc_error();
            err.duplicate_request = Some(cdcpb::DuplicateRequest {
                region_id: req.region_id,
            });
            return reject(self, err);
        }
        if region.leader_store != store {
            let err = self.not_leader_error(&region);
            return reject(self, err);
        }
        let req_version = req.region_epoch.as_ref().map_or(0, |e| e.version);
        if req_version != region.version {
            let mut err = cdc_error();
            err.epoch_not_match = Some(errorpb::EpochNotMatch {
                current_regions: vec![region.to_proto()],
            });
            return reject(self, err);
        }
        let Some((enc_start, enc_end)) = intersect(
            (&req.start_key, &req.end_key),
            (&region.enc_start(), &region.enc_end()),
        ) else {
            // An empty observed range still gets INITIALIZED.
            let ds = Downstream {
                enc_start: region.enc_end(),
                enc_end: region.enc_end(),
                checkpoint_ts: req.checkpoint_ts,
                filter_loop: req.filter_loop,
                initialized: false,
                resolved_ts: 0,
            };
            self.insert_downstream(key, ds);
            return self.finish_scan(key, Vec::new());
        };
        let ds = Downstream {
            enc_start,
            enc_end,
            checkpoint_ts: req.checkpoint_ts,
            filter_loop: req.filter_loop,
            initialized: false,
            resolved_ts: 0,
        };
        let rows = self.scan_rows(&region, &ds);
        self.insert_downstream(key, ds);
        if self.faults.hold_scan.contains(&region.id) {
            self.held_scans.insert(key, rows);
        } else {
            self.finish_scan(key, rows);
        }
    }

    pub(super) fn not_leader_error(&self, region: &Region) -> cdcpb::Error {
        let mut err = cdc_error();
        let leader = if self.faults.hide_leader.contains(&region.id) {
            None
        } else {
            region.leader()
        };
        err.not_leader = Some(errorpb::NotLeader {
            region_id: region.id,
            leader,
        });
        err
    }

    fn scan_rows(&self, region: &Region, ds: &Downstream) -> Vec<event::Row> {
        let mut rows = Vec::new();
        for (k, d) in self.mvcc.range(&region.start, &region.end) {
            let enc = encode_key(k);
            if !crate::keyspace::in_range(&enc, &ds.enc_start, &ds.enc_end) {
                continue;
            }
            for r in feed::scan_key_rows(k, d, ds.checkpoint_ts) {
                if feed::passes_source_filter(r.txn_source, ds.filter_loop) {
                    rows.push(r);
                }
            }
        }
        rows
    }

    pub(super) fn finish_scan(&mut self, key: DsKey, rows: Vec<event::Row>) {
        let Some(ds) = self.downstreams.get_mut(&key) else {
            return;
        };
        ds.initialized = true;
        let mut events = feed::pack_entries(key.2, key.1, rows, feed::SCAN_BATCH_ROWS);
        events.push(feed::entries_event(
            key.2,
            key.1,
            vec![feed::initialized_row()],
        ));
        self.send_events(key.0, events);
    }

    // ----- live events -------------------------------------------------------

    /// Deliver rows produced by one raft command on `region` to its subscribers.
    pub(super) fn emit(&self, region: u64, rows: &[event::Row]) {
        if rows.is_empty() {
            return;
        }
        let subscribers = self
            .ds_by_region
            .range((region, (0, 0, 0))..=(region, DS_MAX));
        for (_, k) in subscribers {
            let Some(ds) = self.downstreams.get(k) else {
                continue;
            };
            let mine = feed::filter_rows(rows, &ds.enc_start, &ds.enc_end, ds.filter_loop);
            if mine.is_empty() {
                continue;
            }
            let events = feed::pack_entries(k.2, k.1, mine, usize::MAX);
            self.send_events(k.0, events);
        }
    }

    fn insert_downstream(&mut self, key: DsKey, ds: Downstream) {
        self.ds_by_region.insert((key.2, key));
        self.downstreams.insert(key, ds);
    }

    fn remove_downstream(&mut self, key: DsKey) {
        self.ds_by_region.remove(&(key.2, key));
        self.downstreams.remove(&key);
    }

    pub(super) fn keys_of_region(&self, region: u64) -> Vec<DsKey> {
        self.downstreams
            .keys()
            .chain(self.held_scans.keys())
            .filter(|k| k.2 == region)
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    pub(super) fn fail_region(&mut self, region: u64, err: &cdcpb::Error) {
        for k in self.keys_of_region(region) {
            self.send_error(k, err.clone());
        }
    }
}
