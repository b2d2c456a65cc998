//! The process-level configuration: the upstream cluster, the HTTP server, local state and
//! logging. Changefeeds are in [`super::changefeed`]. Every struct rejects unknown keys and
//! documents its default in one place, the `Default` impl or the `default_*` function next to
//! it; `config/changefeed.example.toml` mirrors these defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::changefeed::ChangefeedConfig;
use super::secret::Secret;
use super::units::HumanDuration;

/// The whole file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub upstream: UpstreamConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub ha: HaConfig,
    #[serde(default, rename = "changefeed")]
    pub changefeeds: Vec<ChangefeedConfig>,
}

/// High availability and scale-out, active with the SQL state store (`[state] store =
/// "mysql"`): daemons started with the same configuration share its changefeeds, each owned
/// by one daemon at a time through a lease in the state table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HaConfig {
    /// How long a lease lasts without renewal. The owner renews it every `lease-ttl / 4`
    /// and stops writing once `lease-ttl / 2` passed without a successful renewal; a
    /// standby takes over once the lease has ended (by the store's clock) plus
    /// `takeover-margin`.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl: HumanDuration,
    /// Extra wait after a lease ended before another daemon takes it.
    #[serde(default = "default_takeover_margin")]
    pub takeover_margin: HumanDuration,
    /// This daemon's name in the lease table; empty: `<hostname>:<server listen port>`.
    /// Must differ between daemons.
    #[serde(default)]
    pub daemon_id: String,
    /// The address other daemons show for this one in their status API; empty:
    /// `http://<hostname>:<server listen port>`.
    #[serde(default)]
    pub advertise_url: String,
}

fn default_lease_ttl() -> HumanDuration {
    HumanDuration::secs(10)
}

fn default_takeover_margin() -> HumanDuration {
    HumanDuration::secs(1)
}

impl Default for HaConfig {
    fn default() -> Self {
        HaConfig {
            lease_ttl: default_lease_ttl(),
            takeover_margin: default_takeover_margin(),
            daemon_id: String::new(),
            advertise_url: String::new(),
        }
    }
}

/// The TiDB cluster to read from. Only PD is needed: TiKV stores are found through it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UpstreamConfig {
    /// PD client URLs, e.g. `["http://10.0.0.1:2379"]` (TiCDC's `--pd`). `https://` needs `tls`.
    pub pd: Vec<String>,
    /// TLS for PD and TiKV (TiCDC's `--ca`, `--cert`, `--key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<UpstreamTls>,
    /// How long one attempt to reach PD or a TiKV store may take.
    #[serde(default = "default_upstream_connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// A region whose resolved ts lags the current TSO by more than this, or whose
    /// subscription has not initialized within it, has its locks resolved (abandoned
    /// transactions rolled back, committed ones' leftover locks committed). TiCDC's puller
    /// uses a fixed 4 s (`resolveLockFence`, tiflow PR 10855) and has no key for it.
    #[serde(default = "default_stale_lock_threshold")]
    pub stale_lock_threshold: HumanDuration,
    /// TTL of the service GC safe point each changefeed holds in PD (TiCDC's `gc-ttl`,
    /// 24 h): a changefeed that cannot reach PD, or a daemon that is stopped, keeps TiKV's
    /// history from its checkpoint on for this long.
    #[serde(default = "default_gc_ttl")]
    pub gc_ttl: HumanDuration,
    /// How long a PD, TiKV store or region-range failure is retried before it is reported
    /// as a fault (status `retrying`, `/readyz` 503). Retrying goes on afterwards.
    #[serde(default = "default_fault_report_after")]
    pub fault_report_after: HumanDuration,
}

fn default_upstream_connect_timeout() -> HumanDuration {
    HumanDuration::secs(10)
}

fn default_stale_lock_threshold() -> HumanDuration {
    HumanDuration::secs(4)
}

/// TiCDC's default `gc-ttl`, 24 h (tiflow `pkg/config/server_config.go` `GcTTL`).
fn default_gc_ttl() -> HumanDuration {
    HumanDuration::secs(86_400)
}

fn default_fault_report_after() -> HumanDuration {
    HumanDuration::secs(10)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UpstreamTls {
    /// PEM file with the CA that signed PD's and TiKV's certificates.
    pub ca: PathBuf,
    /// PEM client certificate, for clusters that require mutual TLS. Needs `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

/// The HTTP server for `/metrics`, `/healthz`, `/readyz` and `/api/v1/status`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerConfig {
    /// Listen address. TiCDC's default port is 8300.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// How long a graceful shutdown (SIGTERM) may take to flush, wait for Kafka's
    /// acknowledgements and save checkpoints before the process exits anyway.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout: HumanDuration,
    /// A file holding the bearer token the lifecycle API (pause, resume, remove) requires
    /// (`Authorization: Bearer <token>`). Without it those requests are allowed only when
    /// `listen` is a loopback address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token_file: Option<PathBuf>,
    /// The token read from `admin-token-file` when the configuration was loaded.
    #[serde(skip)]
    pub admin_token: Option<Secret>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8300))
}

fn default_shutdown_timeout() -> HumanDuration {
    HumanDuration::secs(30)
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            shutdown_timeout: default_shutdown_timeout(),
            admin_token_file: None,
            admin_token: None,
        }
    }
}

/// Where checkpoints (`<changefeed>.checkpoint.json`) and sorter spill files
/// (`sorter/<changefeed>/`) live.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StateConfig {
    /// State directory; a relative path is resolved against the configuration file's
    /// directory.
    #[serde(default = "default_state_dir")]
    pub dir: PathBuf,
    /// Where checkpoints (and, with `mysql`, ownership leases) are kept: `file` (in `dir`) or
    /// `mysql` (a table in TiDB, MySQL or MariaDB, see [`MysqlStateConfig`]). The older name
    /// `checkpoint-store` is accepted too.
    #[serde(default, alias = "checkpoint-store")]
    pub store: CheckpointStore,
    /// The SQL store, for `store = "mysql"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mysql: Option<MysqlStateConfig>,
    /// How often each changefeed's checkpoint is saved (and always at shutdown).
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval: HumanDuration,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("state")
}

fn default_checkpoint_interval() -> HumanDuration {
    HumanDuration::secs(1)
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: default_state_dir(),
            store: CheckpointStore::default(),
            mysql: None,
            checkpoint_interval: default_checkpoint_interval(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointStore {
    #[default]
    File,
    Mysql,
}

/// `[state.mysql]`: the table that holds checkpoints and ownership leases.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MysqlStateConfig {
    /// `mysql://USER@HOST[:PORT]/DATABASE` (see [`super::dsn`]); no password in it.
    pub dsn: String,
    /// The user's password: inline, `{ env = "VAR" }` or `{ file = "path" }`; never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// The state table; the members table is `<table>_members`. Both are created if absent.
    #[serde(default = "default_state_table")]
    pub table: String,
    /// TLS to the store: when set, the connection requires TLS and verifies the server's
    /// certificate against `ca` (and its name against the DSN's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<UpstreamTls>,
    /// How long establishing one connection (TCP, TLS, login) may take.
    #[serde(default = "default_mysql_connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// How long one store operation's statements may take; a hung store fails the operation
    /// with a retryable timeout instead of hanging the caller.
    #[serde(default = "default_mysql_query_timeout")]
    pub query_timeout: HumanDuration,
}

/// The default state table name.
pub const DEFAULT_STATE_TABLE: &str = "tidb_changefeed_state";

fn default_state_table() -> String {
    DEFAULT_STATE_TABLE.to_string()
}

fn default_mysql_connect_timeout() -> HumanDuration {
    HumanDuration::secs(5)
}

fn default_mysql_query_timeout() -> HumanDuration {
    HumanDuration::secs(3)
}

impl MysqlStateConfig {
    /// A configuration with the defaults for everything but the DSN.
    pub fn new(dsn: impl Into<String>) -> Self {
        MysqlStateConfig {
            dsn: dsn.into(),
            password: None,
            table: default_state_table(),
            tls: None,
            connect_timeout: default_mysql_connect_timeout(),
            query_timeout: default_mysql_query_timeout(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LogConfig {
    /// A level (`error`, `warn`, `info`, `debug`, `trace`) or a filter such as
    /// `info,tidb_changefeed::sink=debug`. `RUST_LOG` overrides it.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// `auto` writes human text on a terminal and JSON lines otherwise.
    #[serde(default)]
    pub format: LogFormat,
}

fn default_log_level() -> String {
    "info".to_string()
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_log_level(),
            format: LogFormat::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    #[default]
    Auto,
    Text,
    Json,
}
