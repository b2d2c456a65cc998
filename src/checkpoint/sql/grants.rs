//! `check`'s proof of privileges: instead of parsing `SHOW GRANTS` (whose shape differs
//! between MySQL, MariaDB and TiDB, and which misses role and wildcard subtleties), it does
//! what the daemon does — SELECT, and INSERT/UPDATE (DELETE on the members table) of a probe
//! row inside a transaction that is rolled back — and names every privilege the server
//! refused. CREATE was proved by [`SqlStore::connect`] when it had to create a table.

use mysql_async::TxOpts;
use mysql_async::prelude::Queryable;

use super::schema::SCHEMA_VERSION;
use super::{SqlStore, StoreError};

/// The span of the probe row; real rows use `''` or a table span, never this.
const PROBE_SPAN: &str = "#grant-probe";

fn denied(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(se) if matches!(se.code, 1044 | 1142 | 1143))
}

impl SqlStore {
    /// Proves SELECT, INSERT and UPDATE on the state table and SELECT, INSERT, UPDATE and
    /// DELETE on the members table by doing them (rolled back). Returns what was proved, one
    /// line each; a refusal is [`StoreError::Denied`] naming the privileges and the GRANT.
    pub async fn check_grants(&self) -> Result<Vec<String>, StoreError> {
        let what = "check the privileges";
        let mut conn = self.conn(what).await?;
        let t = &self.tables;
        self.bounded(what, async {
            let account: Option<String> = conn
                .query_first("SELECT CURRENT_USER()")
                .await
                .map_err(|e| self.err(e, self.on_state(what, "USAGE")))?;
            let user = account
                .as_deref()
                .and_then(|a| a.rsplit_once('@'))
                .map(|(u, h)| format!("'{u}'@'{h}'"))
                .unwrap_or_else(|| self.grant_user.clone());
            let mut proved = vec![format!(
                "tables {} and {} exist (schema version {SCHEMA_VERSION})",
                t.state_name, t.members_name
            )];
            let mut tx = conn
                .start_transaction(TxOpts::default())
                .await
                .map_err(|e| self.err(e, self.on_state(what, "USAGE")))?;
            let probes: [(&str, &str, String, Vec<mysql_async::Value>); 7] = [
                (
                    "SELECT",
                    &t.state_name,
                    format!("SELECT COUNT(*) FROM {}", t.state),
                    vec![],
                ),
                (
                    "INSERT",
                    &t.state_name,
                    format!(
                        "INSERT INTO {} (changefeed, span, schema_version, epoch, lease_until, updated_at)
                         VALUES ('', ?, {SCHEMA_VERSION}, 0, NOW(6), NOW(6))",
                        t.state
                    ),
                    vec![PROBE_SPAN.into()],
                ),
                (
                    "UPDATE",
                    &t.state_name,
                    format!(
                        "UPDATE {} SET updated_at = updated_at WHERE changefeed = '' AND span = ''",
                        t.state
                    ),
                    vec![],
                ),
                (
                    "SELECT",
                    &t.members_name,
                    format!("SELECT COUNT(*) FROM {}", t.members),
                    vec![],
                ),
                (
                    "INSERT",
                    &t.members_name,
                    format!(
                        "INSERT INTO {} (id, status_url, lease_until, updated_at)
                         VALUES (?, '', NOW(6), NOW(6))",
                        t.members
                    ),
                    vec![PROBE_SPAN.into()],
                ),
                (
                    "UPDATE",
                    &t.members_name,
                    format!(
                        "UPDATE {} SET updated_at = updated_at WHERE id = ?",
                        t.members
                    ),
                    vec![PROBE_SPAN.into()],
                ),
                (
                    "DELETE",
                    &t.members_name,
                    format!("DELETE FROM {} WHERE id = ?", t.members),
                    vec![PROBE_SPAN.into()],
                ),
            ];
            // (table, privileges refused on it)
            let mut refused: Vec<(String, Vec<&str>)> = Vec::new();
            for (privilege, table, sql, params) in probes {
                let r = if params.is_empty() {
                    tx.query_drop(&sql).await
                } else {
                    tx.exec_drop(&sql, params).await
                };
                match r {
                    Ok(()) => proved.push(format!("{privilege} on {table}")),
                    Err(e) if denied(&e) => match refused.iter_mut().find(|(t, _)| t == table) {
                        Some((_, ops)) => ops.push(privilege),
                        None => refused.push((table.to_string(), vec![privilege])),
                    },
                    Err(e) => {
                        return Err(self.err(
                            e,
                            super::error::Op {
                                what,
                                privilege,
                                table,
                            },
                        ));
                    }
                }
            }
            tx.rollback()
                .await
                .map_err(|e| self.err(e, self.on_state(what, "USAGE")))?;
            match refused.into_iter().next() {
                None => Ok(proved),
                Some((table, ops)) => Err(StoreError::Denied {
                    store: self.describe.clone(),
                    op: ops.join(", "),
                    table,
                    user,
                }),
            }
        })
        .await
    }
}
