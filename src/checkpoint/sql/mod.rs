//! The SQL checkpoint and lease store: one table in TiDB, MySQL or MariaDB that holds, per
//! changefeed, its checkpoint ts, its config fingerprint, its owner and the owner's lease.
//!
//! # The tables
//! `<table>` (default `tidb_changefeed_state`), keyed by `(changefeed, span)`. `span = ''` is the
//! whole changefeed, the only kind of row written today; a later step can lease table spans of
//! one changefeed to several daemons by adding rows with a non-empty span (each with its own
//! owner, epoch, lease and checkpoint; the changefeed's checkpoint is then the minimum over its
//! spans). The row `('', '')` holds the table's `schema_version` ([`SCHEMA_VERSION`]); a table
//! made by a newer version is refused ([`StoreError::Schema`]), never written.
//! Each changefeed's row also holds its admin state ([`admin`]): what the operator asked
//! (`admin_state`) and what its owner carried out (`admin_applied`).
//! `<table>_members` holds one row per live daemon (id, status URL, lease) for scale-out.
//! Both tables are created if absent ([`schema`]).
//!
//! # Guarantees
//! - **Fenced writes**: every write by an owner ([`SqlStore::renew`], [`SqlStore::save`],
//!   [`SqlStore::release`]) is a single `UPDATE … WHERE owner = ? AND epoch = ?`; a deposed
//!   owner (someone else acquired, which bumps the epoch, or [`SqlStore::overwrite`] bumped it)
//!   matches no row and writes nothing. The checkpoint never moves backwards through `save`
//!   (`GREATEST`); only the operator's `overwrite` may move it.
//! - **One owner**: [`SqlStore::try_acquire`] reads the row `FOR UPDATE` and updates it in one
//!   transaction, so of two daemons racing exactly one wins.
//! - **One clock**: every lease time is the database's `NOW(6)`, never a daemon's clock, so the
//!   daemons' clock skew does not matter. Each connection sets `time_zone = '+00:00'` so the
//!   stored `DATETIME(6)` values mean the same to every session.
//! - **Matched, not changed**: connections use `CLIENT_FOUND_ROWS`, so the affected-row count is
//!   the number of rows the `WHERE` matched (a renew in the same microsecond still counts).
//! - **Bounded**: taking a connection is bounded by `connect-timeout`, and each operation's
//!   statements by `query-timeout`; a hung store yields a retryable [`StoreError::Timeout`].
//! - **No secrets out**: the password is only handed to the driver; [`SqlStore::describe`] and
//!   every error name the store as `mysql://user@host:port/db, table t`.
//!
//! # Portability
//! Plain SQL that MySQL 5.7/8, MariaDB 10.x and TiDB all run: `CREATE TABLE IF NOT EXISTS`,
//! `DATETIME(6)` with `NOW(6)` and `INTERVAL ? MICROSECOND`, `TIMESTAMPDIFF(MICROSECOND, …)`,
//! `INSERT … ON DUPLICATE KEY UPDATE col = col` (no `VALUES()`), `SELECT … FOR UPDATE`,
//! `GREATEST`, `COALESCE`, server-side prepared statements, and `SET time_zone`.

mod admin;
mod error;
mod grants;
mod lease;
mod members;
mod schema;

use std::future::Future;
use std::time::Duration;

use mysql_async::{Conn, OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts};

use crate::config::{Dsn, MysqlStateConfig};

pub use error::StoreError;
use error::{Op, classify};
pub use lease::{Lease, LeaseRow};
pub use members::MemberRow;
pub use schema::SCHEMA_VERSION;

/// At most this many connections per store; the daemon's store traffic is a few statements
/// per second per changefeed.
const MAX_CONNECTIONS: usize = 8;

/// The SQL store: a connection pool, the table names and the timeouts. Cheap to clone.
#[derive(Clone)]
pub struct SqlStore {
    pool: Pool,
    /// `mysql://user@host:port/db, table t` — for messages; no password.
    describe: String,
    /// How the account is named in a GRANT: `'user'@'%'`.
    grant_user: String,
    tables: schema::Tables,
    connect_timeout: Duration,
    query_timeout: Duration,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("store", &self.describe)
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// Connects, creates both tables if absent and checks the schema version. The
    /// configuration must be valid (see `config::validate`): a DSN that does not parse is
    /// reported as [`StoreError::Schema`]-free [`StoreError::Server`] error naming the DSN rule.
    pub async fn connect(cfg: &MysqlStateConfig) -> Result<SqlStore, StoreError> {
        let dsn = Dsn::parse(&cfg.dsn).map_err(|reason| StoreError::Server {
            store: "[state.mysql] dsn".into(),
            op: "parse the DSN",
            code: None,
            reason,
        })?;
        let describe = format!("{dsn}, table {}", cfg.table);
        let mut opts = OptsBuilder::default()
            .ip_or_hostname(dsn.host.clone())
            .tcp_port(dsn.port)
            .user(Some(dsn.user.clone()))
            .db_name(Some(dsn.database.clone()))
            .prefer_socket(false)
            .client_found_rows(true)
            .init(vec!["SET time_zone = '+00:00'"])
            .stmt_cache_size(32)
            .tcp_keepalive(Some(Duration::from_secs(30)))
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(PoolConstraints::new(0, MAX_CONNECTIONS).unwrap_or_default())
                    .with_reset_connection(false)
                    .with_inactive_connection_ttl(Duration::from_secs(60)),
            );
        if let Some(pw) = &cfg.password {
            opts = opts.pass(Some(pw.expose().to_string()));
        }
        if let Some(tls) = &cfg.tls {
            let mut ssl = SslOpts::default()
                .with_root_certs(vec![tls.ca.clone().into()])
                .with_disable_built_in_roots(true);
            if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
                ssl = ssl.with_client_identity(Some(mysql_async::ClientIdentity::new(
                    cert.clone().into(),
                    key.clone().into(),
                )));
            }
            opts = opts.ssl_opts(Some(ssl));
        }
        let store = SqlStore {
            pool: Pool::new(opts),
            grant_user: format!("'{}'@'%'", dsn.user.replace('\'', "''")),
            tables: schema::Tables::new(&dsn.database, &cfg.table),
            describe,
            connect_timeout: cfg.connect_timeout.get(),
            query_timeout: cfg.query_timeout.get(),
        };
        store.ensure_schema().await?;
        Ok(store)
    }

    /// `mysql://user@host:port/db, table t` — never the password.
    pub fn describe(&self) -> String {
        self.describe.clone()
    }

    /// The state table and the members table as `db.table`, for the table filter.
    pub fn state_tables(&self) -> Vec<String> {
        vec![
            self.tables.state_name.clone(),
            self.tables.members_name.clone(),
        ]
    }

    /// Closes the pool's connections (they also close when the last clone is dropped).
    pub async fn disconnect(self) {
        let _ = self.pool.disconnect().await;
    }

    /// A pooled connection, bounded by `connect-timeout`.
    async fn conn(&self, what: &'static str) -> Result<Conn, StoreError> {
        match tokio::time::timeout(self.connect_timeout, self.pool.get_conn()).await {
            Err(_) => Err(StoreError::Timeout {
                store: self.describe.clone(),
                op: what,
                timeout: self.connect_timeout,
            }),
            Ok(r) => r.map_err(|e| {
                self.err(
                    e,
                    Op {
                        what,
                        privilege: "USAGE",
                        table: &self.tables.state_name,
                    },
                )
            }),
        }
    }

    /// Runs an operation's statements, bounded by `query-timeout`.
    async fn bounded<T>(
        &self,
        what: &'static str,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.query_timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Timeout {
                store: self.describe.clone(),
                op: what,
                timeout: self.query_timeout,
            }),
        }
    }

    fn err(&self, e: mysql_async::Error, op: Op<'_>) -> StoreError {
        classify(e, &self.describe, &self.grant_user, op)
    }

    /// Op context on the state table.
    fn on_state(&self, what: &'static str, privilege: &'static str) -> Op<'_> {
        Op {
            what,
            privilege,
            table: &self.tables.state_name,
        }
    }

    /// Op context on the members table.
    fn on_members(&self, what: &'static str, privilege: &'static str) -> Op<'_> {
        Op {
            what,
            privilege,
            table: &self.tables.members_name,
        }
    }
}

/// Microseconds of a duration for `INTERVAL ? MICROSECOND`, saturating.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2)
}
