//! Checkpoints and ownership leases on the state table: load, acquire, renew, fenced save,
//! release, the operator's overwrite, and the listing for `check` and the status API.
//!
//! Every owner write is one `UPDATE … WHERE changefeed = ? AND span = '' AND owner = ? AND
//! epoch = ?` whose matched-row count (CLIENT_FOUND_ROWS) says whether the caller still owns
//! the changefeed: 0 rows means fenced out and nothing was written.

use std::time::Duration;

use mysql_async::TxOpts;
use mysql_async::prelude::Queryable;

use super::schema::SCHEMA_VERSION;
use super::{SqlStore, StoreError, micros};
use crate::checkpoint::admin::AdminState;

/// MySQL's deadlock error; two acquirers creating the same row may meet it.
const DEADLOCK: u16 = 1213;

/// A lease this daemon holds on a changefeed: valid while `owner` and `epoch` match the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub changefeed: String,
    pub owner: String,
    /// Bumped by every acquisition and by `overwrite`; writes of an older epoch are refused.
    pub epoch: u64,
    /// The stored checkpoint when the lease was acquired (None: never saved).
    pub checkpoint_ts: Option<u64>,
    /// The config fingerprint stored by the previous owner, to notice a changed changefeed.
    pub previous_fingerprint: Option<String>,
}

/// One changefeed's row as `check` and the status API show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub changefeed: String,
    pub owner: Option<String>,
    pub epoch: u64,
    pub checkpoint_ts: Option<u64>,
    pub fingerprint: Option<String>,
    /// Milliseconds until the lease ends, by the database's clock; negative = ended.
    pub lease_remaining_ms: i64,
    /// What the operator asked (`admin_state`).
    pub admin: AdminState,
    /// What the owner carried out (`admin_applied`), none before any owner acted.
    pub applied: Option<AdminState>,
}

/// (owner, epoch, checkpoint_ts, fingerprint, free) as the acquisition reads it.
type AcquireRow = (
    Option<String>,
    u64,
    Option<u64>,
    Option<String>,
    Option<i64>,
);
/// (changefeed, owner, epoch, checkpoint_ts, fingerprint, remaining ms, admin state,
/// applied) as `leases` reads it.
type LeaseTuple = (
    String,
    Option<String>,
    u64,
    Option<u64>,
    Option<String>,
    i64,
    String,
    Option<String>,
);

impl SqlStore {
    /// The changefeed's stored checkpoint; `None` if it has none.
    pub async fn load(&self, changefeed: &str) -> Result<Option<u64>, StoreError> {
        let what = "load the checkpoint";
        let mut conn = self.conn(what).await?;
        let sql = format!(
            "SELECT checkpoint_ts FROM {} WHERE changefeed = ? AND span = ''",
            self.tables.state
        );
        self.bounded(what, async {
            let row: Option<Option<u64>> = conn
                .exec_first(&sql, (changefeed,))
                .await
                .map_err(|e| self.err(e, self.on_state(what, "SELECT")))?;
            Ok(row.flatten())
        })
        .await
    }

    /// Creates the changefeed's row if absent: unowned, no checkpoint, lease ended now.
    pub(super) async fn ensure_row(
        &self,
        conn: &mut mysql_async::Conn,
        what: &'static str,
        changefeed: &str,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO {} (changefeed, span, schema_version, epoch, lease_until, updated_at)
             VALUES (?, '', {SCHEMA_VERSION}, 0, NOW(6), NOW(6))
             ON DUPLICATE KEY UPDATE changefeed = changefeed",
            self.tables.state
        );
        conn.exec_drop(&sql, (changefeed,))
            .await
            .map_err(|e| self.err(e, self.on_state(what, "INSERT")))
    }

    /// Takes the changefeed if its row is absent, unowned, or its lease ended more than
    /// `margin` ago (database clock): bumps the epoch, sets the lease to `NOW(6) + ttl`, stores
    /// `fingerprint`. `None` if someone else holds it. Of concurrent callers exactly one wins.
    pub async fn try_acquire(
        &self,
        changefeed: &str,
        owner: &str,
        ttl: Duration,
        margin: Duration,
        fingerprint: &str,
    ) -> Result<Option<Lease>, StoreError> {
        let what = "acquire the lease";
        let mut conn = self.conn(what).await?;
        self.bounded(what, async {
            let mut attempt = 0;
            loop {
                attempt += 1;
                match self
                    .acquire_once(&mut conn, changefeed, owner, ttl, margin, fingerprint)
                    .await
                {
                    Err(StoreError::Server {
                        code: Some(DEADLOCK),
                        ..
                    }) if attempt < 3 => continue,
                    r => return r,
                }
            }
        })
        .await
    }

    async fn acquire_once(
        &self,
        conn: &mut mysql_async::Conn,
        changefeed: &str,
        owner: &str,
        ttl: Duration,
        margin: Duration,
        fingerprint: &str,
    ) -> Result<Option<Lease>, StoreError> {
        let what = "acquire the lease";
        let t = &self.tables.state;
        self.ensure_row(conn, what, changefeed).await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(|e| self.err(e, self.on_state(what, "SELECT")))?;
        let row: Option<AcquireRow> = tx
            .exec_first(
                format!(
                    "SELECT owner, epoch, checkpoint_ts, fingerprint,
                        (owner IS NULL OR lease_until < NOW(6) - INTERVAL ? MICROSECOND) AS free
                     FROM {t} WHERE changefeed = ? AND span = '' FOR UPDATE"
                ),
                (micros(margin), changefeed),
            )
            .await
            .map_err(|e| self.err(e, self.on_state(what, "SELECT")))?;
        let Some((_, epoch, checkpoint_ts, previous_fingerprint, free)) = row else {
            // The row was deleted between the insert and the read (an operator's DELETE).
            return Ok(None);
        };
        if free != Some(1) {
            tx.rollback()
                .await
                .map_err(|e| self.err(e, self.on_state(what, "SELECT")))?;
            return Ok(None);
        }
        tx.exec_drop(
            format!(
                "UPDATE {t} SET owner = ?, epoch = epoch + 1,
                    lease_until = NOW(6) + INTERVAL ? MICROSECOND, fingerprint = ?,
                    updated_at = NOW(6)
                 WHERE changefeed = ? AND span = '' AND epoch = ?"
            ),
            (owner, micros(ttl), fingerprint, changefeed, epoch),
        )
        .await
        .map_err(|e| self.err(e, self.on_state(what, "UPDATE")))?;
        let won = tx.affected_rows() == 1;
        tx.commit()
            .await
            .map_err(|e| self.err(e, self.on_state(what, "UPDATE")))?;
        Ok(won.then(|| Lease {
            changefeed: changefeed.to_string(),
            owner: owner.to_string(),
            epoch: epoch + 1,
            checkpoint_ts,
            previous_fingerprint,
        }))
    }

    /// Extends the lease to `NOW(6) + ttl`; `false` = lost (owner or epoch no longer ours).
    pub async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let what = "renew the lease";
        let mut conn = self.conn(what).await?;
        let sql = format!(
            "UPDATE {} SET lease_until = NOW(6) + INTERVAL ? MICROSECOND, updated_at = NOW(6)
             WHERE changefeed = ? AND span = '' AND owner = ? AND epoch = ?",
            self.tables.state
        );
        self.bounded(what, async {
            conn.exec_drop(
                &sql,
                (micros(ttl), &lease.changefeed, &lease.owner, lease.epoch),
            )
            .await
            .map_err(|e| self.err(e, self.on_state(what, "UPDATE")))?;
            Ok(conn.affected_rows() == 1)
        })
        .await
    }

    /// Fenced save: raises the checkpoint to `ts` (never lowers it) and renews the lease, only
    /// while `lease` is current; `false` = fenced out, nothing written.
    pub async fn save(&self, lease: &Lease, ts: u64, ttl: Duration) -> Result<bool, StoreError> {
        let what = "save the checkpoint";
        let mut conn = self.conn(what).await?;
        let sql = format!(
            "UPDATE {} SET checkpoint_ts = GREATEST(COALESCE(checkpoint_ts, 0), ?),
                lease_until = NOW(6) + INTERVAL ? MICROSECOND, updated_at = NOW(6)
             WHERE changefeed = ? AND span = '' AND owner = ? AND epoch = ?",
            self.tables.state
        );
        self.bounded(what, async {
            conn.exec_drop(
                &sql,
                (
                    ts,
                    micros(ttl),
                    &lease.changefeed,
                    &lease.owner,
                    lease.epoch,
                ),
            )
            .await
            .map_err(|e| self.err(e, self.on_state(what, "UPDATE")))?;
            Ok(conn.affected_rows() == 1)
        })
        .await
    }

    /// Gives the changefeed up: no owner, lease ended now, so another daemon may acquire it at
    /// once. `false` = it was not ours any more (nothing written).
    pub async fn release(&self, lease: &Lease) -> Result<bool, StoreError> {
        let what = "release the lease";
        let mut conn = self.conn(what).await?;
        let sql = format!(
            "UPDATE {} SET owner = NULL, lease_until = NOW(6), updated_at = NOW(6)
             WHERE changefeed = ? AND span = '' AND owner = ? AND epoch = ?",
            self.tables.state
        );
        self.bounded(what, async {
            conn.exec_drop(&sql, (&lease.changefeed, &lease.owner, lease.epoch))
                .await
                .map_err(|e| self.err(e, self.on_state(what, "UPDATE")))?;
            Ok(conn.affected_rows() == 1)
        })
        .await
    }

    /// The operator's repair: sets the checkpoint to `ts` (also backwards) and bumps the epoch,
    /// so a running owner is fenced out at its next renew or save. The owner and lease end are
    /// kept: nobody (the old owner included) acquires before that lease has ended plus the
    /// margin, by which time the old owner has stopped producing. A removed changefeed is
    /// re-created (its admin state back to normal); a paused one stays paused.
    pub async fn overwrite(&self, changefeed: &str, ts: u64) -> Result<(), StoreError> {
        let what = "overwrite the checkpoint";
        let mut conn = self.conn(what).await?;
        let sql = format!(
            "UPDATE {} SET checkpoint_ts = ?, epoch = epoch + 1, updated_at = NOW(6),
                admin_state = CASE WHEN admin_state = 'removed' THEN 'normal' ELSE admin_state END
             WHERE changefeed = ? AND span = ''",
            self.tables.state
        );
        self.bounded(what, async {
            self.ensure_row(&mut conn, what, changefeed).await?;
            conn.exec_drop(&sql, (ts, changefeed))
                .await
                .map_err(|e| self.err(e, self.on_state(what, "UPDATE")))?;
            Ok(())
        })
        .await
    }

    /// Every changefeed's row (whole-changefeed rows only), ordered by changefeed id.
    pub async fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        let what = "list the leases";
        let mut conn = self.conn(what).await?;
        let sql = format!(
            "SELECT changefeed, owner, epoch, checkpoint_ts, fingerprint,
                TIMESTAMPDIFF(MICROSECOND, NOW(6), lease_until) DIV 1000, admin_state, admin_applied
             FROM {} WHERE changefeed <> '' AND span = '' ORDER BY changefeed",
            self.tables.state
        );
        self.bounded(what, async {
            let rows: Vec<LeaseTuple> = conn
                .query(&sql)
                .await
                .map_err(|e| self.err(e, self.on_state(what, "SELECT")))?;
            Ok(rows
                .into_iter()
                .map(
                    |(
                        changefeed,
                        owner,
                        epoch,
                        checkpoint_ts,
                        fingerprint,
                        remaining,
                        admin,
                        applied,
                    )| LeaseRow {
                        changefeed,
                        owner,
                        epoch,
                        checkpoint_ts,
                        fingerprint,
                        lease_remaining_ms: remaining,
                        admin: super::admin::admin_of(&admin),
                        applied: applied.as_deref().map(super::admin::admin_of),
                    },
                )
                .collect())
        })
        .await
    }
}
