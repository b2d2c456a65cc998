//! The emulated cluster's shared state: topology + MVCC data + EventFeed
//! subscriptions + GC, behind one lock, and every operation that changes it
//! (transactions, admin operations, faults, resolved-ts ticks).
//!
//! Guarantees: every change is applied under the lock and the resulting CDC
//! messages are queued on the affected connections before the lock is released,
//! so each connection sees messages in apply order; events are derived from the
//! MVCC model, never scripted; after an error or deregister nothing more is sent
//! for that `(request_id, region_id)`; resolved ts is sent only for initialized
//! subscriptions, never goes backwards within one, and is re-sent when unchanged.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::feed::{self, Features};
use crate::keyspace::{encode_key, intersect};
use crate::mvcc::{KeyData, Lock, LockKind, Locked, Mvcc, SHORT_VALUE_MAX_LEN, Write, WriteKind};
use crate::topology::{Region, Topology, TopologyError};
use tidb_changefeed::proto::cdcpb::{self, change_data_request, event};
use tidb_changefeed::proto::{errorpb, metapb};

/// Where a connection's messages go (the gRPC response stream).
pub type Sink = mpsc::UnboundedSender<Result<cdcpb::ChangeDataEvent, tonic::Status>>;

/// Identifies one EventFeed stream.
pub type ConnId = u64;

/// Errors of transactional operations on the model.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TxnError {
    /// Another transaction holds a lock on the key.
    #[error("key {key} is locked by transaction {start_ts}")]
    KeyIsLocked {
        /// Hex of the key.
        key: String,
        /// Lock owner.
        start_ts: u64,
    },
    /// A newer version was committed after the transaction started.
    #[error("write conflict on key {key}: committed at {commit_ts}")]
    WriteConflict {
        /// Hex of the key.
        key: String,
        /// Conflicting commit ts.
        commit_ts: u64,
    },
    /// Commit or rollback of a key the transaction does not lock.
    #[error("transaction {start_ts} holds no lock on key {key}")]
    LockNotFound {
        /// Hex of the key.
        key: String,
        /// Transaction.
        start_ts: u64,
    },
    /// Commit ts below start ts or min commit ts.
    #[error("commit ts {commit_ts} is invalid for transaction {start_ts}")]
    BadCommitTs {
        /// Transaction.
        start_ts: u64,
        /// Requested commit ts.
        commit_ts: u64,
    },
    /// No region covers the key or its leader store is down.
    #[error("key {0} has no available region")]
    Unavailable(String),
}

/// A change inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MutationOp {
    /// Write a value.
    Put(Vec<u8>),
    /// Delete the key.
    Delete,
    /// Lock the key without changing it.
    Lock,
}

/// One key change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// Raw key.
    pub key: Vec<u8>,
    /// Change.
    pub op: MutationOp,
}

/// Options of a prewrite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrewriteOptions {
    /// Async commit: locks carry a `min_commit_ts`, commit ts derived from them.
    pub async_commit: bool,
    /// Pessimistic for-update ts (0 = optimistic).
    pub for_update_ts: u64,
    /// `txn_source` written with the rows.
    pub txn_source: u64,
}

/// How a split/merge is reported to subscribers of the changed regions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RegionChangeNotice {
    /// `epoch_not_match` (with the new regions for a split, none for a merge).
    #[default]
    EpochNotMatch,
    /// `region_not_found` (the region-change observer won the race).
    RegionNotFound,
}

#[derive(Debug)]
struct Conn {
    store: u64,
    sink: Sink,
    multiplexing_requested: bool,
    features: Option<Features>,
}

#[derive(Debug, Clone)]
struct Downstream {
    enc_start: Vec<u8>,
    enc_end: Vec<u8>,
    checkpoint_ts: u64,
    filter_loop: bool,
    initialized: bool,
    resolved_ts: u64,
}

/// Items grouped by the region holding their key.
type ByRegion<T> = BTreeMap<u64, Vec<(Vec<u8>, T)>>;

/// Key of a subscription: `(conn, request_id, region_id)`.
type DsKey = (ConnId, u64, u64);

#[derive(Debug, Default)]
struct Faults {
    /// Per store: remaining registrations answered `server_is_busy`, and backoff.
    busy: HashMap<u64, (u32, u64)>,
    /// Regions whose next incremental scan waits for `release_scan`.
    hold_scan: HashSet<u64>,
    /// Regions whose leader is unknown to TiKV (`not_leader` without hint).
    hide_leader: HashSet<u64>,
    /// Stores whose resolved-ts ticks are suspended.
    stall: HashSet<u64>,
    /// PD answers every RPC but `GetMembers` with `UNAVAILABLE`.
    pd_unavailable: bool,
}

#[derive(Debug, Clone)]
struct ServiceSafePoint {
    safe_point: u64,
    expire: Option<Instant>,
}

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

/// The whole model. Use through [`Cluster`].
#[derive(Debug)]
pub struct Model {
    /// Cluster id reported by PD and validated by TiKV.
    pub cluster_id: u64,
    /// Timestamp oracle.
    pub tso: crate::tso::Tso,
    /// Stores and regions.
    pub topo: Topology,
    /// Versioned data.
    pub mvcc: Mvcc,
    /// Largest ts seen by reads/ticks (TiKV concurrency manager `max_ts`).
    pub max_ts: u64,
    gc_safe_point: u64,
    service_safe_points: BTreeMap<Vec<u8>, ServiceSafePoint>,
    /// PD members' addresses (`host:port`), member id `i + 1` at index `i`.
    pd_members: Vec<String>,
    /// Member id of the PD leader.
    pd_leader: u64,
    conns: HashMap<ConnId, Conn>,
    next_conn: ConnId,
    downstreams: BTreeMap<DsKey, Downstream>,
    /// Held scans: downstream key -> snapshot rows.
    held_scans: BTreeMap<DsKey, Vec<event::Row>>,
    faults: Faults,
}

/// Shared handle to the model.
#[derive(Debug, Clone)]
pub struct Cluster(Arc<Mutex<Model>>);

impl Cluster {
    /// Wrap a model.
    #[must_use]
    pub fn new(cluster_id: u64, topo: Topology) -> Self {
        Self(Arc::new(Mutex::new(Model {
            cluster_id,
            tso: crate::tso::Tso::default(),
            topo,
            mvcc: Mvcc::default(),
            max_ts: 0,
            gc_safe_point: 0,
            service_safe_points: BTreeMap::new(),
            pd_members: Vec::new(),
            pd_leader: 1,
            conns: HashMap::new(),
            next_conn: 1,
            downstreams: BTreeMap::new(),
            held_scans: BTreeMap::new(),
            faults: Faults::default(),
        })))
    }

    /// Lock the model (a poisoned lock is recovered: the model has no invariants
    /// spanning a panic point).
    pub fn lock(&self) -> MutexGuard<'_, Model> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn hexk(k: &[u8]) -> String {
    hex::encode(k)
}

fn cdc_error() -> cdcpb::Error {
    cdcpb::Error::default()
}

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

    fn send(&self, conn: ConnId, msg: cdcpb::ChangeDataEvent) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.sink.send(Ok(msg));
        }
    }

    fn send_events(&self, conn: ConnId, events: Vec<cdcpb::Event>) {
        for m in feed::pack_messages(events) {
            self.send(conn, m);
        }
    }

    fn send_error(&mut self, key: DsKey, err: cdcpb::Error) {
        self.downstreams.remove(&key);
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
        let region = match self.topo.regions.get(&req.region_id) {
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
            self.downstreams.insert(key, ds);
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
        self.downstreams.insert(key, ds);
        if self.faults.hold_scan.contains(&region.id) {
            self.held_scans.insert(key, rows);
        } else {
            self.finish_scan(key, rows);
        }
    }

    fn not_leader_error(&self, region: &Region) -> cdcpb::Error {
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

    fn finish_scan(&mut self, key: DsKey, rows: Vec<event::Row>) {
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
    fn emit(&self, region: u64, rows: &[event::Row]) {
        if rows.is_empty() {
            return;
        }
        for (k, ds) in self.downstreams.range((0, 0, 0)..) {
            if k.2 != region {
                continue;
            }
            let mine = feed::filter_rows(rows, &ds.enc_start, &ds.enc_end, ds.filter_loop);
            if mine.is_empty() {
                continue;
            }
            let events = feed::pack_entries(k.2, k.1, mine, usize::MAX);
            self.send_events(k.0, events);
        }
    }

    fn group_by_region<T>(&self, items: Vec<(Vec<u8>, T)>) -> Result<ByRegion<T>, TxnError> {
        let mut out: ByRegion<T> = BTreeMap::new();
        for (k, t) in items {
            let r = self
                .topo
                .region_for_raw(&k)
                .filter(|r| self.topo.stores.get(&r.leader_store).is_some_and(|s| s.up))
                .ok_or_else(|| TxnError::Unavailable(hexk(&k)))?;
            out.entry(r.id).or_default().push((k, t));
        }
        Ok(out)
    }

    // ----- transactions ------------------------------------------------------

    /// A fresh timestamp (transaction start ts or commit ts).
    pub fn next_ts(&mut self) -> u64 {
        self.tso.next_ts()
    }

    fn check_conflict(
        &self,
        key: &[u8],
        start_ts: u64,
        conflict_after: u64,
    ) -> Result<(), TxnError> {
        if let Some(d) = self.mvcc.get(key) {
            if let Some(l) = &d.lock
                && l.start_ts != start_ts
            {
                return Err(TxnError::KeyIsLocked {
                    key: hexk(key),
                    start_ts: l.start_ts,
                });
            }
            if let Some(w) = d
                .writes
                .iter()
                .find(|w| w.commit_ts > conflict_after && w.kind != WriteKind::Rollback)
            {
                return Err(TxnError::WriteConflict {
                    key: hexk(key),
                    commit_ts: w.commit_ts,
                });
            }
        }
        Ok(())
    }

    /// Acquire pessimistic locks (invisible to CDC).
    pub fn pessimistic_lock(
        &mut self,
        start_ts: u64,
        for_update_ts: u64,
        primary: &[u8],
        keys: &[Vec<u8>],
    ) -> Result<(), TxnError> {
        for k in keys {
            self.check_conflict(k, start_ts, for_update_ts)?;
        }
        let _ = self.group_by_region(keys.iter().map(|k| (k.clone(), ())).collect())?;
        for k in keys {
            self.mvcc.entry(k).lock = Some(Lock {
                kind: LockKind::Pessimistic,
                start_ts,
                primary: primary.to_vec(),
                value: None,
                for_update_ts,
                min_commit_ts: 0,
                ttl: 3000,
                async_commit: false,
                txn_source: 0,
            });
        }
        Ok(())
    }

    /// Prewrite mutations; each region's share is one raft command (one event).
    pub fn prewrite(
        &mut self,
        start_ts: u64,
        primary: &[u8],
        mutations: &[Mutation],
        opts: PrewriteOptions,
    ) -> Result<(), TxnError> {
        let conflict_after = if opts.for_update_ts > 0 {
            opts.for_update_ts
        } else {
            start_ts
        };
        for m in mutations {
            self.check_conflict(&m.key, start_ts, conflict_after)?;
        }
        let groups = self.group_by_region(
            mutations
                .iter()
                .map(|m| (m.key.clone(), m.op.clone()))
                .collect(),
        )?;
        let min_commit_ts = if opts.async_commit {
            self.max_ts.max(start_ts).max(opts.for_update_ts) + 1
        } else {
            start_ts + 1
        };
        for (region, muts) in groups {
            let mut rows = Vec::new();
            for (k, op) in muts {
                let read_ts = start_ts.max(opts.for_update_ts);
                let old = self
                    .mvcc
                    .get(&k)
                    .and_then(|d| d.visible(read_ts).map(|x| x.0.to_vec()))
                    .unwrap_or_default();
                let (kind, value) = match op {
                    MutationOp::Put(v) => (LockKind::Put, Some(v)),
                    MutationOp::Delete => (LockKind::Delete, None),
                    MutationOp::Lock => (LockKind::Lock, None),
                };
                match kind {
                    LockKind::Put => rows.push(feed::prewrite_row(
                        &k,
                        start_ts,
                        false,
                        value.clone().unwrap_or_default(),
                        old,
                        opts.txn_source,
                    )),
                    LockKind::Delete => rows.push(feed::prewrite_row(
                        &k,
                        start_ts,
                        true,
                        Vec::new(),
                        old,
                        opts.txn_source,
                    )),
                    LockKind::Pessimistic | LockKind::Lock => {}
                }
                self.mvcc.entry(&k).lock = Some(Lock {
                    kind,
                    start_ts,
                    primary: primary.to_vec(),
                    value,
                    for_update_ts: opts.for_update_ts,
                    min_commit_ts,
                    ttl: 3000,
                    async_commit: opts.async_commit,
                    txn_source: opts.txn_source,
                });
            }
            self.emit(region, &rows);
        }
        Ok(())
    }

    /// Commit keys of a prewritten transaction; each region's share is one
    /// command. Keys already committed by this transaction are skipped.
    pub fn commit(
        &mut self,
        start_ts: u64,
        commit_ts: u64,
        keys: &[Vec<u8>],
    ) -> Result<(), TxnError> {
        if commit_ts <= start_ts {
            return Err(TxnError::BadCommitTs {
                start_ts,
                commit_ts,
            });
        }
        let mut todo = Vec::new();
        for k in keys {
            let d = self.mvcc.get(k);
            match d.and_then(|d| d.lock.as_ref()) {
                Some(l) if l.start_ts == start_ts && l.kind != LockKind::Pessimistic => {
                    if commit_ts < l.min_commit_ts {
                        return Err(TxnError::BadCommitTs {
                            start_ts,
                            commit_ts,
                        });
                    }
                    todo.push((k.clone(), ()));
                }
                _ => {
                    let committed = d.is_some_and(|d| {
                        d.writes
                            .iter()
                            .any(|w| w.start_ts == start_ts && w.kind != WriteKind::Rollback)
                    });
                    if !committed {
                        return Err(TxnError::LockNotFound {
                            key: hexk(k),
                            start_ts,
                        });
                    }
                }
            }
        }
        let groups = self.group_by_region(todo)?;
        self.tso.observe(commit_ts);
        for (region, ks) in groups {
            let mut rows = Vec::new();
            for (k, ()) in ks {
                let Some(lock) = self.mvcc.entry(&k).lock.take() else {
                    continue;
                };
                let kind = match lock.kind {
                    LockKind::Put => WriteKind::Put,
                    LockKind::Delete => WriteKind::Delete,
                    LockKind::Lock | LockKind::Pessimistic => WriteKind::Lock,
                };
                match kind {
                    WriteKind::Put | WriteKind::Delete => {
                        let v = lock.value.clone().unwrap_or_default();
                        let short = if v.len() <= SHORT_VALUE_MAX_LEN {
                            v
                        } else {
                            Vec::new()
                        };
                        rows.push(feed::commit_row(
                            &k,
                            start_ts,
                            commit_ts,
                            kind == WriteKind::Delete,
                            short,
                            lock.txn_source,
                        ));
                    }
                    WriteKind::Rollback | WriteKind::Lock => {}
                }
                self.mvcc.put_write(
                    &k,
                    Write {
                        kind,
                        start_ts,
                        commit_ts,
                        value: lock.value,
                        txn_source: lock.txn_source,
                    },
                );
            }
            self.emit(region, &rows);
        }
        Ok(())
    }

    /// Roll back keys: remove this transaction's locks and write Rollback records.
    pub fn rollback(&mut self, start_ts: u64, keys: &[Vec<u8>]) -> Result<(), TxnError> {
        let groups = self.group_by_region(keys.iter().map(|k| (k.clone(), ())).collect())?;
        for (region, ks) in groups {
            let mut rows = Vec::new();
            for (k, ()) in ks {
                let d = self.mvcc.entry(&k);
                let mut source = 0;
                if d.lock.as_ref().is_some_and(|l| l.start_ts == start_ts) {
                    source = d.lock.as_ref().map_or(0, |l| l.txn_source);
                    d.lock = None;
                }
                self.mvcc.put_write(
                    &k,
                    Write {
                        kind: WriteKind::Rollback,
                        start_ts,
                        commit_ts: start_ts,
                        value: None,
                        txn_source: source,
                    },
                );
                rows.push(feed::rollback_row(&k, start_ts, source));
            }
            self.emit(region, &rows);
        }
        Ok(())
    }

    /// Commit an async-commit transaction as a lock resolver would: the commit ts
    /// is the maximum `min_commit_ts` over its locks. Returns the commit ts.
    pub fn resolve_async_commit(&mut self, start_ts: u64) -> Result<u64, TxnError> {
        let locked: Vec<(Vec<u8>, u64)> = self
            .mvcc
            .range(&[], &[])
            .filter_map(|(k, d)| {
                d.lock
                    .as_ref()
                    .filter(|l| l.start_ts == start_ts)
                    .map(|l| (k.clone(), l.min_commit_ts))
            })
            .collect();
        let Some(commit_ts) = locked.iter().map(|x| x.1).max() else {
            return Err(TxnError::LockNotFound {
                key: String::new(),
                start_ts,
            });
        };
        let keys: Vec<Vec<u8>> = locked.into_iter().map(|x| x.0).collect();
        self.commit(start_ts, commit_ts, &keys)?;
        Ok(commit_ts)
    }

    /// Commit mutations in one phase: COMMITTED rows only. Returns `(start, commit)`.
    pub fn one_pc(
        &mut self,
        mutations: &[Mutation],
        txn_source: u64,
    ) -> Result<(u64, u64), TxnError> {
        let start_ts = self.next_ts();
        for m in mutations {
            self.check_conflict(&m.key, start_ts, start_ts)?;
        }
        let commit_ts = self.next_ts();
        let groups = self.group_by_region(
            mutations
                .iter()
                .map(|m| (m.key.clone(), m.op.clone()))
                .collect(),
        )?;
        for (region, muts) in groups {
            let mut rows = Vec::new();
            for (k, op) in muts {
                let old = self
                    .mvcc
                    .get(&k)
                    .and_then(|d| d.visible(commit_ts - 1).map(|x| x.0.to_vec()))
                    .unwrap_or_default();
                let (kind, value) = match op {
                    MutationOp::Put(v) => (WriteKind::Put, Some(v)),
                    MutationOp::Delete => (WriteKind::Delete, None),
                    MutationOp::Lock => (WriteKind::Lock, None),
                };
                if kind != WriteKind::Lock {
                    rows.push(feed::committed_row(
                        &k,
                        start_ts,
                        commit_ts,
                        kind == WriteKind::Delete,
                        value.clone().unwrap_or_default(),
                        old,
                        txn_source,
                    ));
                }
                self.mvcc.put_write(
                    &k,
                    Write {
                        kind,
                        start_ts,
                        commit_ts,
                        value,
                        txn_source,
                    },
                );
            }
            self.emit(region, &rows);
        }
        Ok((start_ts, commit_ts))
    }

    /// Rewrite an existing lock (TTL heartbeat / `min_commit_ts` push by
    /// `check_txn_status`). A rewritten Put lock carries no value in the command
    /// and produces nothing; a rewritten Delete lock is re-sent as a "fake
    /// prewrite" (DELETE, empty value).
    pub fn rewrite_lock(&mut self, key: &[u8]) -> Result<(), TxnError> {
        let region = self
            .topo
            .region_for_raw(key)
            .map(|r| r.id)
            .ok_or_else(|| TxnError::Unavailable(hexk(key)))?;
        // A reader pushing the lock: min_commit_ts moves past a fresh ts.
        let pushed = self.next_ts() + 1;
        self.tso.observe(pushed);
        let d = self.mvcc.entry(key);
        let Some(lock) = d.lock.as_mut() else {
            return Err(TxnError::LockNotFound {
                key: hexk(key),
                start_ts: 0,
            });
        };
        lock.ttl += 3000;
        lock.min_commit_ts = lock.min_commit_ts.max(pushed);
        let lock = lock.clone();
        if lock.kind == LockKind::Delete {
            let old = d
                .visible(lock.start_ts.max(lock.for_update_ts))
                .map(|x| x.0.to_vec())
                .unwrap_or_default();
            let rows = [feed::prewrite_row(
                key,
                lock.start_ts,
                true,
                Vec::new(),
                old,
                lock.txn_source,
            )];
            self.emit(region, &rows);
        }
        Ok(())
    }

    /// Snapshot read for the KV service; records the read ts in `max_ts`.
    pub fn read(&mut self, key: &[u8], ts: u64) -> Result<Option<(Vec<u8>, u64)>, Locked> {
        self.max_ts = self.max_ts.max(ts);
        self.mvcc.read(key, ts)
    }

    /// MVCC state of a key (tests).
    #[must_use]
    pub fn key_data(&self, key: &[u8]) -> Option<&KeyData> {
        self.mvcc.get(key)
    }

    // ----- resolved ts ------------------------------------------------------

    /// One resolved-ts round on every up store, as TiKV's min-ts task: take a TSO,
    /// lower it to the smallest Put/Delete lock start ts in each subscription's
    /// range, advance (never back), and send per connection features. Returns the
    /// TSO used.
    pub fn tick_resolved_ts(&mut self) -> u64 {
        let min_ts = self.next_ts();
        self.max_ts = self.max_ts.max(min_ts);
        let mut updates = Vec::new();
        for (k, ds) in &self.downstreams {
            let Some(conn) = self.conns.get(&k.0) else {
                continue;
            };
            if !ds.initialized || self.faults.stall.contains(&conn.store) {
                continue;
            }
            let Some(region) = self.topo.regions.get(&k.2) else {
                continue;
            };
            if region.leader_store != conn.store {
                continue;
            }
            let lock_min = self
                .mvcc
                .range(&region.start, &region.end)
                .filter_map(|(key, d)| d.lock.as_ref().map(|l| (key, l)))
                .filter(|(key, l)| {
                    matches!(l.kind, LockKind::Put | LockKind::Delete)
                        && crate::keyspace::in_range(&encode_key(key), &ds.enc_start, &ds.enc_end)
                })
                .map(|(_, l)| l.start_ts)
                .min();
            let advanced = lock_min.map_or(min_ts, |l| l.min(min_ts));
            updates.push((*k, ds.resolved_ts.max(advanced)));
        }
        for (k, ts) in &updates {
            if let Some(ds) = self.downstreams.get_mut(k) {
                ds.resolved_ts = *ts;
            }
        }
        self.emit_resolved(&updates);
        min_ts
    }

    fn emit_resolved(&self, updates: &[(DsKey, u64)]) {
        let mut groups: BTreeMap<(ConnId, u64), Vec<(u64, u64)>> = BTreeMap::new();
        for &((conn, request_id, region), ts) in updates {
            if ts == 0 {
                continue;
            }
            let Some(c) = self.conns.get(&conn) else {
                continue;
            };
            let f = c.features.unwrap_or_default();
            if f.stream_multiplexing {
                groups
                    .entry((conn, request_id))
                    .or_default()
                    .push((region, ts));
            } else if f.batch_resolved_ts {
                groups.entry((conn, 0)).or_default().push((region, ts));
            } else {
                #[allow(deprecated)]
                let ev = cdcpb::Event {
                    region_id: region,
                    index: 0,
                    request_id,
                    event: Some(event::Event::ResolvedTs(ts)),
                };
                self.send(
                    conn,
                    cdcpb::ChangeDataEvent {
                        events: vec![ev],
                        resolved_ts: None,
                    },
                );
            }
        }
        for ((conn, request_id), regions) in groups {
            for r in feed::batch_resolved(regions, request_id) {
                self.send(
                    conn,
                    cdcpb::ChangeDataEvent {
                        events: Vec::new(),
                        resolved_ts: Some(r),
                    },
                );
            }
        }
    }

    // ----- admin operations and faults --------------------------------------

    fn keys_of_region(&self, region: u64) -> Vec<DsKey> {
        self.downstreams
            .keys()
            .chain(self.held_scans.keys())
            .filter(|k| k.2 == region)
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    fn fail_region(&mut self, region: u64, err: &cdcpb::Error) {
        for k in self.keys_of_region(region) {
            self.send_error(k, err.clone());
        }
    }

    /// Split a region at raw `key`; subscribers of the old region get
    /// `epoch_not_match` with both new regions, or `region_not_found`.
    pub fn split(
        &mut self,
        region: u64,
        key: &[u8],
        notice: RegionChangeNotice,
    ) -> Result<(Region, Region), TopologyError> {
        let (l, r) = self.topo.split(region, key)?;
        let mut err = cdc_error();
        match notice {
            RegionChangeNotice::EpochNotMatch => {
                err.epoch_not_match = Some(errorpb::EpochNotMatch {
                    current_regions: vec![l.to_proto(), r.to_proto()],
                });
            }
            RegionChangeNotice::RegionNotFound => {
                err.region_not_found = Some(errorpb::RegionNotFound { region_id: region });
            }
        }
        self.fail_region(region, &err);
        Ok((l, r))
    }

    /// Merge `source` into `target`; subscribers of both get `epoch_not_match`
    /// without regions (or the source's get `region_not_found`).
    pub fn merge(
        &mut self,
        source: u64,
        target: u64,
        notice: RegionChangeNotice,
    ) -> Result<Region, TopologyError> {
        let merged = self.topo.merge(source, target)?;
        let mut enm = cdc_error();
        enm.epoch_not_match = Some(errorpb::EpochNotMatch {
            current_regions: Vec::new(),
        });
        let source_err = match notice {
            RegionChangeNotice::EpochNotMatch => enm.clone(),
            RegionChangeNotice::RegionNotFound => {
                let mut e = cdc_error();
                e.region_not_found = Some(errorpb::RegionNotFound { region_id: source });
                e
            }
        };
        self.fail_region(source, &source_err);
        self.fail_region(target, &enm);
        Ok(merged)
    }

    /// Move a region's leader; subscribers on the old leader get `not_leader`
    /// (with the new leader as hint unless `hint` is false, which also makes later
    /// registrations on followers answer without a hint until the next transfer).
    pub fn transfer_leader(
        &mut self,
        region: u64,
        store: u64,
        hint: bool,
    ) -> Result<(), TopologyError> {
        let r = self.topo.transfer_leader(region, store)?;
        if hint {
            self.faults.hide_leader.remove(&region);
        } else {
            self.faults.hide_leader.insert(region);
        }
        let err = self.not_leader_error(&r);
        for k in self.keys_of_region(region) {
            if self.conns.get(&k.0).is_some_and(|c| c.store != store) {
                self.send_error(k, err.clone());
            }
        }
        Ok(())
    }

    /// Add a peer (conf change: conf_ver + 1; subscriptions are unaffected).
    pub fn add_peer(
        &mut self,
        region: u64,
        store: u64,
        learner: bool,
    ) -> Result<(), TopologyError> {
        self.topo.add_peer(region, store, learner).map(|_| ())
    }

    /// Remove a peer; subscriptions on that store get `region_not_found`.
    pub fn remove_peer(&mut self, region: u64, store: u64) -> Result<(), TopologyError> {
        self.topo.remove_peer(region, store)?;
        let mut err = cdc_error();
        err.region_not_found = Some(errorpb::RegionNotFound { region_id: region });
        for k in self.keys_of_region(region) {
            if self.conns.get(&k.0).is_some_and(|c| c.store == store) {
                self.send_error(k, err.clone());
            }
        }
        Ok(())
    }

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

    /// KV request region check: the region must exist, have its leader here and
    /// match the request's epoch (version and conf_ver).
    pub fn kv_region(
        &self,
        store: u64,
        region_id: u64,
        epoch: Option<&metapb::RegionEpoch>,
    ) -> Result<Region, Box<errorpb::Error>> {
        let mut e = errorpb::Error::default();
        let Some(r) = self
            .topo
            .regions
            .get(&region_id)
            .filter(|r| r.peer_on(store).is_some())
        else {
            e.message = format!("region {region_id} not found");
            e.region_not_found = Some(errorpb::RegionNotFound { region_id });
            return Err(Box::new(e));
        };
        if r.leader_store != store {
            e.message = format!("peer is not leader for region {region_id}");
            e.not_leader = Some(errorpb::NotLeader {
                region_id,
                leader: if self.faults.hide_leader.contains(&region_id) {
                    None
                } else {
                    r.leader()
                },
            });
            return Err(Box::new(e));
        }
        let ep = epoch.copied().unwrap_or_default();
        if ep.version != r.version || ep.conf_ver != r.conf_ver {
            e.message = "epoch not match".into();
            e.epoch_not_match = Some(errorpb::EpochNotMatch {
                current_regions: vec![r.to_proto()],
            });
            return Err(Box::new(e));
        }
        Ok(r.clone())
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
