//! The two tables' definitions, their creation when absent, and the schema-version check.
//!
//! The state table's row `('', '')` (no changefeed id is empty) holds `schema_version`. A
//! table without that row gets it; a table of a newer version, or a table of that name that is
//! not ours (a column missing), is refused with [`StoreError::Schema`] and nothing is written.
//! `CREATE` is only attempted when a table is missing, so an account without the CREATE
//! privilege works with tables an administrator made.
//!
//! Versions: 1 had no admin state; 2 adds `admin_state` (what the operator asked: `normal`,
//! `paused`, `removed`) and `admin_applied` (what the owner carried out). A version-1 table
//! is upgraded in place (`ALTER TABLE … ADD COLUMN`, then the version row), which needs the
//! ALTER privilege: without it the daemon stops with the GRANT to run. Older builds refuse a
//! version-2 table (they do not write a table they do not know).

use mysql_async::prelude::Queryable;

use super::{SqlStore, StoreError};

/// The version of the tables this build reads and writes.
pub const SCHEMA_VERSION: u32 = 2;

/// MySQL's "duplicate column name" (a column an interrupted upgrade already added).
const DUPLICATE_COLUMN: u16 = 1060;

/// MySQL's "table doesn't exist" and "unknown column".
const NO_SUCH_TABLE: u16 = 1146;
const UNKNOWN_COLUMN: u16 = 1054;

/// The tables' names: quoted for SQL and plain (`db.t`) for messages and GRANTs.
#[derive(Debug, Clone)]
pub(super) struct Tables {
    pub state: String,
    pub members: String,
    pub state_name: String,
    pub members_name: String,
}

impl Tables {
    pub fn new(database: &str, table: &str) -> Tables {
        let q = |s: &str| format!("`{}`", s.replace('`', "``"));
        let members = format!("{table}_members");
        Tables {
            state: format!("{}.{}", q(database), q(table)),
            members: format!("{}.{}", q(database), q(&members)),
            state_name: format!("{database}.{table}"),
            members_name: format!("{database}.{members}"),
        }
    }
}

fn create_state(t: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (
            changefeed VARCHAR(128) NOT NULL,
            span VARCHAR(255) NOT NULL DEFAULT '',
            schema_version INT UNSIGNED NOT NULL,
            checkpoint_ts BIGINT UNSIGNED NULL,
            fingerprint VARCHAR(255) NULL,
            owner VARCHAR(255) NULL,
            epoch BIGINT UNSIGNED NOT NULL DEFAULT 0,
            lease_until DATETIME(6) NOT NULL,
            updated_at DATETIME(6) NOT NULL,
            admin_state VARCHAR(16) NOT NULL DEFAULT 'normal',
            admin_applied VARCHAR(16) NULL,
            PRIMARY KEY (changefeed, span)
        )"
    )
}

/// The columns version 2 added, as `ADD COLUMN` clauses.
const V2_COLUMNS: [&str; 2] = [
    "admin_state VARCHAR(16) NOT NULL DEFAULT 'normal'",
    "admin_applied VARCHAR(16) NULL",
];

fn create_members(t: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {t} (
            id VARCHAR(255) NOT NULL,
            status_url VARCHAR(1024) NOT NULL,
            lease_until DATETIME(6) NOT NULL,
            updated_at DATETIME(6) NOT NULL,
            PRIMARY KEY (id)
        )"
    )
}

/// Inserts the version row if absent (and nothing else).
pub(super) fn insert_version_row(t: &str) -> String {
    format!(
        "INSERT INTO {t} (changefeed, span, schema_version, epoch, lease_until, updated_at)
         VALUES ('', '', {SCHEMA_VERSION}, 0, NOW(6), NOW(6))
         ON DUPLICATE KEY UPDATE changefeed = changefeed"
    )
}

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(se) => Some(se.code),
        _ => None,
    }
}

impl SqlStore {
    /// Creates what is missing and checks the version; see the module doc.
    pub(super) async fn ensure_schema(&self) -> Result<(), StoreError> {
        let what = "check the state tables";
        let mut conn = self.conn(what).await?;
        let t = &self.tables;
        let select_version = format!(
            "SELECT schema_version, checkpoint_ts, fingerprint, owner, epoch, lease_until, updated_at
             FROM {} WHERE changefeed = '' AND span = ''",
            t.state
        );
        self.bounded(what, async {
            let mut created = false;
            let version: Option<u32> = loop {
                match conn
                    .query_first::<(u32, Option<u64>, Option<String>, Option<String>, u64, mysql_async::Value, mysql_async::Value), _>(
                        &select_version,
                    )
                    .await
                {
                    Ok(Some(row)) => break Some(row.0),
                    Ok(None) if !created => {
                        conn.query_drop(insert_version_row(&t.state))
                            .await
                            .map_err(|e| self.err(e, self.on_state(what, "INSERT")))?;
                        created = true;
                    }
                    Ok(None) => break None,
                    Err(e) if server_code(&e) == Some(NO_SUCH_TABLE) && !created => {
                        conn.query_drop(create_state(&t.state))
                            .await
                            .map_err(|e| self.err(e, self.on_state(what, "CREATE")))?;
                        tracing::info!(store = %self.describe, "created the state table");
                        conn.query_drop(insert_version_row(&t.state))
                            .await
                            .map_err(|e| self.err(e, self.on_state(what, "INSERT")))?;
                        created = true;
                    }
                    Err(e) if server_code(&e) == Some(UNKNOWN_COLUMN) => {
                        return Err(StoreError::Schema {
                            store: self.describe.clone(),
                            table: t.state_name.clone(),
                            reason: format!(
                                "exists but is not a tidb-changefeed state table ({e}); choose another [state.mysql] table"
                            ),
                        });
                    }
                    Err(e) => return Err(self.err(e, self.on_state(what, "SELECT"))),
                }
            };
            let version = match version {
                Some(1) => {
                    for col in V2_COLUMNS {
                        match conn
                            .query_drop(format!("ALTER TABLE {} ADD COLUMN {col}", t.state))
                            .await
                        {
                            Ok(()) => {}
                            Err(e) if server_code(&e) == Some(DUPLICATE_COLUMN) => {}
                            Err(e) => return Err(self.err(e, self.on_state(what, "ALTER"))),
                        }
                    }
                    conn.query_drop(format!(
                        "UPDATE {} SET schema_version = {SCHEMA_VERSION} WHERE changefeed = '' AND span = '' AND schema_version = 1",
                        t.state
                    ))
                    .await
                    .map_err(|e| self.err(e, self.on_state(what, "UPDATE")))?;
                    tracing::info!(store = %self.describe, "upgraded the state table from schema version 1 to {SCHEMA_VERSION} (admin state columns)");
                    Some(SCHEMA_VERSION)
                }
                v => v,
            };
            match version {
                Some(SCHEMA_VERSION) => {}
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(StoreError::Schema {
                        store: self.describe.clone(),
                        table: t.state_name.clone(),
                        reason: format!(
                            "was made by a newer tidb-changefeed (schema version {v}; this build knows {SCHEMA_VERSION}): upgrade this daemon, it does not write a table it does not know"
                        ),
                    });
                }
                other => {
                    return Err(StoreError::Schema {
                        store: self.describe.clone(),
                        table: t.state_name.clone(),
                        reason: format!(
                            "has schema version {other:?} where {SCHEMA_VERSION} was expected; choose another [state.mysql] table"
                        ),
                    });
                }
            }
            let probe_members = format!("SELECT id, status_url, lease_until, updated_at FROM {} LIMIT 0", t.members);
            match conn.query_drop(&probe_members).await {
                Ok(()) => Ok(()),
                Err(e) if server_code(&e) == Some(NO_SUCH_TABLE) => {
                    conn.query_drop(create_members(&t.members))
                        .await
                        .map_err(|e| self.err(e, self.on_members(what, "CREATE")))?;
                    tracing::info!(store = %self.describe, "created the members table");
                    Ok(())
                }
                Err(e) if server_code(&e) == Some(UNKNOWN_COLUMN) => Err(StoreError::Schema {
                    store: self.describe.clone(),
                    table: t.members_name.clone(),
                    reason: format!(
                        "exists but is not a tidb-changefeed members table ({e}); choose another [state.mysql] table"
                    ),
                }),
                Err(e) => Err(self.err(e, self.on_members(what, "SELECT"))),
            }
        })
        .await
    }
}
