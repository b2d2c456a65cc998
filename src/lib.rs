//! tidb-changefeed: replicates a TiDB cluster's row changes into Apache Kafka, writing the
//! same bytes, topics and partitions as TiCDC's Kafka sink.
//!
//! The modules form layers; each imports only the ones before it in this list (the test
//! `tests/it/layers.rs` enforces it):
//! * foundations — `build_info`, `proto` (our minimal kvproto-compatible gRPC messages and
//!   clients), `model` (TiDB's meta model: TableInfo, DBInfo, ActionType), `mount` (TiDB's
//!   key and value encodings, the row decoder), `event` (the event model the stages share),
//!   `filter` (table filters, event filters, column selectors), `config` (the TOML file, its
//!   rules, protocol capabilities), `metrics`, `shutdown`, `fence` (the write permission of a
//!   leased changefeed), `status`, `tls`;
//! * stages, in data-flow order — `upstream` (PD and the TiKV CDC EventFeed client, the meta
//!   snapshot reader), `schema` (the table every id belonged to as of any ts), `sorter`
//!   (per-table ordering until the frontier passes, with spill), `dispatch` (topics and
//!   partitions as TiCDC picks them), `codec` (Canal-JSON, Avro), `sink` (Kafka),
//!   `checkpoint` (durable checkpoints and where a changefeed starts), `pipeline` (one
//!   changefeed's stages joined);
//! * what the operator runs — `check`, `decode`, `checkpoint_cli`, `import_ticdc` and
//!   `admin_cli` (subcommands; `admin_cli` is the HTTP client of the lifecycle API), `server` (HTTP
//!   endpoints), `runtime` (process lifecycle).
//!
//! The emulated TiDB upstream used by tests and the demo is a crate of its own
//! (`tests/emulator`, a dev-dependency); nothing here depends on it. The data flow is
//! described in the project's DESIGN.md.

pub mod admin_cli;
pub mod build_info;
pub mod check;
pub mod checkpoint;
pub mod checkpoint_cli;
pub mod codec;
pub mod config;
pub mod decode;
pub mod dispatch;
pub mod event;
pub mod fence;
pub mod filter;
pub mod import_ticdc;
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
