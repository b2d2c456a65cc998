//! The upstream client: PD (regions, stores, TSO, GC safe point) and TiKV's CDC EventFeed.
//!
//! Owns everything that talks to the TiDB cluster's storage layer and turns its change
//! stream into committed row changes and per-span resolved timestamps. Nothing downstream
//! sees a PREWRITE, a region or a gRPC status. Modules: `error` (typed errors with a
//! retry/fatal kind), `pd` (PD client), `matcher` (prewrite/commit matching per region),
//! `frontier` (min resolved ts over a span's regions), `gc` (service GC safe point keeper, PD probe), `health` (upstream failures
//! being retried, reported past a threshold), `feed` (the multi-span EventFeed client,
//! one shared stream per TiKV store), `snapshot` (TiDB's meta keys read at a ts through TiKV's
//! KV API: the schema snapshot), `locks` (stale-lock resolution for regions whose resolved ts
//! a dead transaction's locks hold back).

pub mod error;
pub mod feed;
pub mod frontier;
pub mod gc;
pub mod health;
pub mod locks;
pub mod matcher;
pub mod pd;
pub mod prewrites;
pub mod snapshot;

pub use error::{ErrorKind, StartOrigin, UpstreamError, tso_time};
