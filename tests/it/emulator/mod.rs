//! Tests of the emulated upstream through plain tonic-generated gRPC clients:
//! exact message sequences per behaviour and trap of reference/upstream.md §5.

mod faults;
pub(crate) mod harness;
mod pd_kv;
mod stream;
mod tidb_data;
mod traps;
