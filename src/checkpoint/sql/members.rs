//! Daemon membership on `<table>_members`: each daemon heartbeats its id and status URL with
//! a lease on the database clock; the live members are those whose lease has not ended.
//! Scale-out divides changefeeds among them.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::{SqlStore, StoreError, micros};

/// A live daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub id: String,
    pub status_url: String,
    /// Milliseconds until its membership lease ends, by the database's clock.
    pub lease_remaining_ms: i64,
}

impl SqlStore {
    /// Registers or refreshes this daemon: lease until `NOW(6) + ttl`.
    pub async fn heartbeat(
        &self,
        id: &str,
        status_url: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let what = "heartbeat the membership";
        let mut conn = self.conn(what).await?;
        let sql = format!(
            "INSERT INTO {} (id, status_url, lease_until, updated_at)
             VALUES (?, ?, NOW(6) + INTERVAL ? MICROSECOND, NOW(6))
             ON DUPLICATE KEY UPDATE status_url = ?,
                lease_until = NOW(6) + INTERVAL ? MICROSECOND, updated_at = NOW(6)",
            self.tables.members
        );
        let us = micros(ttl);
        self.bounded(what, async {
            conn.exec_drop(&sql, (id, status_url, us, status_url, us))
                .await
                .map_err(|e| self.err(e, self.on_members(what, "INSERT, UPDATE")))
        })
        .await
    }

    /// The members whose lease has not ended, ordered by id.
    pub async fn members(&self) -> Result<Vec<MemberRow>, StoreError> {
        let what = "list the members";
        let mut conn = self.conn(what).await?;
        let sql = format!(
            "SELECT id, status_url, TIMESTAMPDIFF(MICROSECOND, NOW(6), lease_until) DIV 1000
             FROM {} WHERE lease_until > NOW(6) ORDER BY id",
            self.tables.members
        );
        self.bounded(what, async {
            let rows: Vec<(String, String, i64)> = conn
                .query(&sql)
                .await
                .map_err(|e| self.err(e, self.on_members(what, "SELECT")))?;
            Ok(rows
                .into_iter()
                .map(|(id, status_url, lease_remaining_ms)| MemberRow {
                    id,
                    status_url,
                    lease_remaining_ms,
                })
                .collect())
        })
        .await
    }

    /// Removes this daemon's membership (a graceful exit).
    pub async fn leave(&self, id: &str) -> Result<(), StoreError> {
        let what = "leave the membership";
        let mut conn = self.conn(what).await?;
        let sql = format!("DELETE FROM {} WHERE id = ?", self.tables.members);
        self.bounded(what, async {
            conn.exec_drop(&sql, (id,))
                .await
                .map_err(|e| self.err(e, self.on_members(what, "DELETE")))
        })
        .await
    }
}
