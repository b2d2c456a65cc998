//! [`StoreError`]: what went wrong with the SQL store, typed by what the caller should do.
//!
//! `Unreachable` and `Timeout` (and the server's transient conflicts) are retryable: the
//! store may come back. `Denied` names the GRANT the operator must run; `Auth`, `Tls`,
//! `Schema` and other server errors need the operator too. No variant ever carries the
//! password: the store's description is `mysql://user@host:port/db`, and the driver's own
//! messages (from the server or the TLS layer) do not contain it.

use std::time::Duration;

/// Server error codes (MySQL, MariaDB, TiDB) that a retry may cure.
const TRANSIENT_CODES: &[u16] = &[
    1040, // too many connections
    1053, // server shutdown in progress
    1205, // lock wait timeout
    1213, // deadlock
    2006, // server has gone away
    2013, // lost connection during query
    8022, // TiDB: transaction commit failed (retryable)
    8028, // TiDB: information schema changed
    9007, // TiDB: write conflict
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQL store {store}: unreachable: {reason}; the daemon retries")]
    Unreachable { store: String, reason: String },
    #[error(
        "SQL store {store}: {op} did not complete within {timeout:?} (a hung or overloaded server?); the daemon retries"
    )]
    Timeout {
        store: String,
        op: &'static str,
        timeout: Duration,
    },
    #[error(
        "SQL store {store}: login refused: {reason}; check the DSN's user and [state.mysql] password"
    )]
    Auth { store: String, reason: String },
    #[error(
        "SQL store {store}: TLS failed: {reason}; check that [state.mysql.tls] ca signed the server's certificate and the DSN's host is in it"
    )]
    Tls { store: String, reason: String },
    #[error(
        "SQL store {store}: {op} denied on {table}: grant it with `GRANT {op} ON {table} TO {user}`"
    )]
    Denied {
        store: String,
        /// The privilege(s) missing, e.g. `UPDATE` or `INSERT, UPDATE`.
        op: String,
        /// `database.table`.
        table: String,
        /// `'user'@'host'` as the server names the account.
        user: String,
    },
    #[error("SQL store {store}: table {table}: {reason}")]
    Schema {
        store: String,
        table: String,
        reason: String,
    },
    #[error("SQL store {store}: {op} failed: {reason}")]
    Server {
        store: String,
        op: &'static str,
        code: Option<u16>,
        reason: String,
    },
}

impl StoreError {
    /// True when a later attempt may succeed without the operator: the store was unreachable,
    /// too slow, or reported a transient conflict.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Unreachable { .. } | StoreError::Timeout { .. } => true,
            StoreError::Server { code, .. } => code.is_some_and(|c| TRANSIENT_CODES.contains(&c)),
            StoreError::Auth { .. }
            | StoreError::Tls { .. }
            | StoreError::Denied { .. }
            | StoreError::Schema { .. } => false,
        }
    }

    /// True for a denied privilege (the operator must GRANT it).
    pub fn is_denied(&self) -> bool {
        matches!(self, StoreError::Denied { .. })
    }
}

/// What an operation was doing when the driver failed, to type its error.
#[derive(Debug, Clone, Copy)]
pub(super) struct Op<'a> {
    /// A short name for messages: "save the checkpoint".
    pub what: &'static str,
    /// The privilege the statement needs: "SELECT", "INSERT", "UPDATE", "CREATE", "DELETE".
    pub privilege: &'static str,
    /// `database.table` the statement touches.
    pub table: &'a str,
}

/// Types a driver error. `user` is how the account is named in a GRANT.
pub(super) fn classify(e: mysql_async::Error, store: &str, user: &str, op: Op<'_>) -> StoreError {
    use mysql_async::{DriverError, Error, IoError};
    let store = store.to_string();
    match e {
        Error::Server(se) => match se.code {
            1045 | 1698 => StoreError::Auth {
                store,
                reason: se.message,
            },
            1044 | 1142 | 1143 => StoreError::Denied {
                store,
                op: op.privilege.to_string(),
                table: op.table.to_string(),
                user: user.to_string(),
            },
            code => StoreError::Server {
                store,
                op: op.what,
                code: Some(code),
                reason: format!("{} (error {code})", se.message),
            },
        },
        Error::Io(IoError::Tls(t)) => StoreError::Tls {
            store,
            reason: t.to_string(),
        },
        Error::Io(IoError::Io(io)) => {
            if let Some(inner) = io.get_ref()
                && inner.is::<rustls::Error>()
            {
                StoreError::Tls {
                    store,
                    reason: inner.to_string(),
                }
            } else {
                StoreError::Unreachable {
                    store,
                    reason: io.to_string(),
                }
            }
        }
        Error::Driver(DriverError::NoClientSslFlagFromServer) => StoreError::Tls {
            store,
            reason: "the server does not offer TLS, but [state.mysql.tls] requires it".into(),
        },
        Error::Driver(
            d @ (DriverError::ConnectionClosed
            | DriverError::PoolDisconnected
            | DriverError::PacketOutOfOrder
            | DriverError::UnexpectedPacket { .. }),
        ) => StoreError::Unreachable {
            store,
            reason: d.to_string(),
        },
        Error::Driver(d) => StoreError::Server {
            store,
            op: op.what,
            code: None,
            reason: d.to_string(),
        },
        other => StoreError::Server {
            store,
            op: op.what,
            code: None,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_kinds() {
        let s = || "mysql://cdc@h:4000/db, table t".to_string();
        assert!(
            StoreError::Timeout {
                store: s(),
                op: "renew the lease",
                timeout: Duration::from_secs(3)
            }
            .is_retryable()
        );
        assert!(
            StoreError::Unreachable {
                store: s(),
                reason: "refused".into()
            }
            .is_retryable()
        );
        let server = |code| StoreError::Server {
            store: s(),
            op: "x",
            code: Some(code),
            reason: String::new(),
        };
        assert!(server(1213).is_retryable());
        assert!(!server(1064).is_retryable());
        let denied = StoreError::Denied {
            store: s(),
            op: "UPDATE".into(),
            table: "db.t".into(),
            user: "'cdc'@'%'".into(),
        };
        assert!(!denied.is_retryable());
        assert!(
            denied
                .to_string()
                .contains("GRANT UPDATE ON db.t TO 'cdc'@'%'"),
            "{denied}"
        );
    }
}
