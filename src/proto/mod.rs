//! Generated gRPC/protobuf code for the TiKV and PD wire protocol.
//!
//! Owns the Rust types generated (prost + tonic) from the minimal `.proto` files in
//! `proto/`, which carry kvproto's package, message and field names and numbers but
//! declare only what this project uses: the messages and the clients. The test emulator
//! (`tests/emulator`) generates its servers over these same message types; nothing here is
//! hand-written protocol logic.

#![allow(
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    missing_docs,
    missing_debug_implementations,
    rustdoc::all,
    unreachable_pub
)]

/// `metapb`: regions, peers, stores, epochs.
pub mod metapb {
    tonic::include_proto!("metapb");
}

/// `errorpb`: region errors shared by KV and CDC.
pub mod errorpb {
    tonic::include_proto!("errorpb");
}

/// `kvrpcpb`: snapshot reads (KvGet/KvScan/KvBatchGet) and `ExtraOp`.
pub mod kvrpcpb {
    tonic::include_proto!("kvrpcpb");
}

/// `cdcpb`: the `ChangeData` service (EventFeed, EventFeedV2).
pub mod cdcpb {
    tonic::include_proto!("cdcpb");
}

/// `pdpb`: the PD service (members, TSO, regions, stores, GC safe points).
pub mod pdpb {
    tonic::include_proto!("pdpb");
}

/// `tikvpb`: the `Tikv` KV service (read RPCs only).
pub mod tikvpb {
    tonic::include_proto!("tikvpb");
}
