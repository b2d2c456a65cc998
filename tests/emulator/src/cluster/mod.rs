//! The emulated cluster's shared state: topology + MVCC data + EventFeed
//! subscriptions + GC, behind one lock ([`Cluster`] around [`Model`]). Every operation that
//! changes it lives in the module of its job: CDC connections, registrations, scans and live
//! events ([`cdc`]), resolved ts ([`resolved_ts`]), transactions ([`txn`]), KV reads
//! ([`kv`]), lock resolution ([`locks`]), topology moves ([`moves`]), fault injection ([`faults`]), PD members and GC safe
//! points ([`pd`]).
//!
//! Guarantees: every change is applied under the lock and the resulting CDC
//! messages are queued on the affected connections before the lock is released,
//! so each connection sees messages in apply order; events are derived from the
//! MVCC model, never scripted; after an error or deregister nothing more is sent
//! for that `(request_id, region_id)`; resolved ts is sent only for initialized
//! subscriptions, never goes backwards within one, and is re-sent when unchanged.

mod cdc;
mod faults;
mod kv;
mod locks;
mod moves;
mod pd;
mod resolved_ts;
mod txn;

pub use locks::{CheckTxnError, TxnAction, TxnStatus};
pub use moves::RegionChangeNotice;
pub use pd::{GC_WORKER, GcUpdate};
pub use txn::{DEFAULT_LOCK_TTL_MS, Mutation, MutationOp, PrewriteOptions, TxnError};

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::mpsc;

use crate::feed::Features;
use crate::mvcc::Mvcc;
use crate::topology::Topology;
use tidb_changefeed::proto::cdcpb::{self, event};

/// Where a connection's messages go (the gRPC response stream).
pub type Sink = mpsc::UnboundedSender<Result<cdcpb::ChangeDataEvent, tonic::Status>>;

/// Identifies one EventFeed stream.
pub type ConnId = u64;

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
    /// Regions PD does not know for now (a split or merge not yet reported): they leave
    /// a hole in `GetRegion`, `GetRegionByID`, `ScanRegions` and `BatchScanRegions`.
    hidden_regions: HashSet<u64>,
    /// Stores whose resolved-ts ticks are suspended.
    stall: HashSet<u64>,
    /// PD answers every RPC but `GetMembers` with `UNAVAILABLE`.
    pd_unavailable: bool,
    /// Every PD member is stopped (connections refused, no TSO for TiKV).
    pd_stopped: bool,
}

#[derive(Debug, Clone)]
struct ServiceSafePoint {
    safe_point: u64,
    expire: Option<Instant>,
}

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
    /// `(region, key)` of every downstream: a region's subscribers without a scan of all.
    ds_by_region: BTreeSet<(u64, DsKey)>,
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
            ds_by_region: BTreeSet::new(),
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
