//! tidb-changefeed: replicates a TiDB cluster's row changes into Apache Kafka, writing the
//! same bytes, topics and partitions as TiCDC's Kafka sink.
//!
//! Modules: `config` (the TOML file and its rules), `metrics` (every metric name),
//! `status` (what each changefeed is doing), `server` (HTTP endpoints), `runtime` (process
//! lifecycle: logging, signals, changefeed tasks), `check` and `decode` (subcommands),
//! `filter` (table filters, event filters, column selectors), `model` (TiDB's meta
//! model: TableInfo, DBInfo, ActionType), `schema` (the table every id belonged to as of any ts), `checkpoint` (durable checkpoints and where a changefeed starts), `mount`
//! (TiDB's key and value encodings: raw KV → typed rows), `upstream` (PD and TiKV CDC
//! EventFeed client), `codec` (output formats: Canal-JSON), `dispatch` (topics and
//! partitions as TiCDC picks them), `sorter` (per-table ordering until the frontier passes,
//! with spill), `sink` (Kafka), `pipeline` (one changefeed's stages joined: upstream →
//! decode → filter → sorter → dispatch → codec → output → checkpoint), `proto` (our minimal kvproto-compatible gRPC types:
//! messages and clients). The emulated TiDB upstream used by tests and the demo is a crate
//! of its own (`tests/emulator`, a dev-dependency); nothing here depends on it. The data
//! flow is described in the project's DESIGN.md.

pub mod build_info;
pub mod check;
pub mod checkpoint;
pub mod codec;
pub mod config;
pub mod decode;
pub mod dispatch;
pub mod event;
pub mod filter;
pub mod metrics;
pub mod model;
pub mod mount;
pub mod pipeline;
pub mod proto;
pub mod runtime;
pub mod schema;
pub mod server;
pub mod shutdown;
pub mod sink;
pub mod sorter;
pub mod status;
pub mod tls;
pub mod upstream;
