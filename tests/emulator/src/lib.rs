//! tidb-changefeed-emulator: an emulated TiDB upstream (PD + TiKV CDC) for tests, benches
//! and demos; a dev-dependency of the daemon, never on its production path.
//!
//! Owns a model of a TiKV cluster (stores, regions, an MVCC store of writes and
//! locks, EventFeed subscriptions) and real tonic servers on loopback that serve
//! it: one PD and one gRPC server per store. Events are derived from the model;
//! faults (splits, merges, leader transfers, outages, region errors, held scans,
//! stalls) are injected through [`cluster::Model`] and [`server::Emulator`], or
//! scripted in scenario files ([`scenario`], [`runner`]).
//!
//! TiDB's formats come from the daemon's library (`tidb_changefeed::{proto, mount, schema}`);
//! this crate adds only what the TiDB side needs: the gRPC *servers* ([`proto`], generated
//! over the daemon's message types), TiDB's encoders the daemon never runs ([`encode`]: row
//! formats v1 and v2, value datums, typed values, index keys), TiDB's row writing ([`tidb`])
//! and the fuzzing entry points of the decoders ([`fuzzing`]).

pub mod cdc_service;
pub mod cluster;
pub mod encode;
pub mod feed;
pub mod fuzzing;
pub mod keyspace;
pub mod kv_service;
pub mod mvcc;
pub mod pd_service;
pub mod proto;
pub mod runner;
pub mod scenario;
pub mod server;
pub mod tidb;
pub mod topology;
pub mod tso;
pub mod workload;

pub use cluster::{
    Cluster, Model, Mutation, MutationOp, PrewriteOptions, RegionChangeNotice, TxnError,
};
pub use server::{Emulator, EmulatorTls, ServeOptions};
pub use topology::{Region, StoreInfo, Topology, TopologyError};

/// Errors of the emulator as a whole.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A listener could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// Address.
        addr: std::net::SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Other I/O failure.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS certificate or key given to the servers is unusable.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// A store id that does not exist.
    #[error("store {0} does not exist")]
    UnknownStore(u64),
    /// A store removed from the cluster cannot start again (PD refuses a tombstone's
    /// `PutStore` with `STORE_TOMBSTONE`).
    #[error("store {0} is a tombstone")]
    StoreTombstone(u64),
    /// Invalid topology operation.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// Failed transaction step.
    #[error(transparent)]
    Txn(#[from] TxnError),
}
