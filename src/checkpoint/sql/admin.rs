//! A changefeed's admin state on its row: the operator's request (`admin_state`, written by
//! any daemon's API), and what the owner carried out (`admin_applied`, a fenced write of the
//! lease holder), plus the removal's end: the checkpoint dropped under the lease.
//!
//! Guarantees: a request is one `UPDATE` of `admin_state` on the row (created if absent)
//! that leaves owner, epoch, lease and checkpoint alone, so it never fences out the owner;
//! the owner's writes match `owner` and `epoch` like every other owner write, so a deposed
//! owner records nothing. An unknown stored value reads as `paused` (nothing replicates
//! until an operator sets a state this build knows).

use mysql_async::prelude::Queryable;

use super::lease::Lease;
use super::{SqlStore, StoreError};
use crate::checkpoint::admin::{AdminState, AdminView};

/// The admin state of a stored name; an unknown one is `paused`.
pub(super) fn admin_of(s: &str) -> AdminState {
    AdminState::parse(s).unwrap_or(AdminState::Paused)
}

impl SqlStore {
    /// The changefeed's admin state, what its owner applied, and its checkpoint.
    pub async fn admin_view(&self, changefeed: &str) -> Result<AdminView, StoreError> {
        let what = "read the admin state";
        let mut conn = self.conn(what).await?;
        let sql = format!(
            "SELECT admin_state, admin_applied, checkpoint_ts FROM {} WHERE changefeed = ? AND span = ''",
            self.tables.state
        );
        self.bounded(what, async {
            let row: Option<(String, Option<String>, Option<u64>)> = conn
                .exec_first(&sql, (changefeed,))
                .await
                .map_err(|e| self.err(e, self.on_state(what, "SELECT")))?;
            Ok(match row {
                Some((admin, applied, checkpoint_ts)) => AdminView {
                    admin: admin_of(&admin),
                    applied: applied.as_deref().map(admin_of),
                    checkpoint_ts,
                },
                None => AdminView {
                    admin: AdminState::Normal,
                    applied: None,
                    checkpoint_ts: None,
                },
            })
        })
        .await
    }

    /// Stores the operator's request for the changefeed (any daemon may).
    pub async fn set_admin(&self, changefeed: &str, state: AdminState) -> Result<(), StoreError> {
        let what = "store the admin state";
        let mut conn = self.conn(what).await?;
        let sql = format!(
            "UPDATE {} SET admin_state = ?, updated_at = NOW(6) WHERE changefeed = ? AND span = ''",
            self.tables.state
        );
        self.bounded(what, async {
            self.ensure_row(&mut conn, what, changefeed).await?;
            conn.exec_drop(&sql, (state.as_str(), changefeed))
                .await
                .map_err(|e| self.err(e, self.on_state(what, "UPDATE")))
        })
        .await
    }

    /// The owner records that it carried `state` out; `false` = fenced out.
    pub async fn set_applied(&self, lease: &Lease, state: AdminState) -> Result<bool, StoreError> {
        self.owner_update(
            "record the applied admin state",
            "admin_applied = ?",
            lease,
            state.as_str(),
        )
        .await
    }

    /// The owner drops a removed changefeed's checkpoint (its tombstone stays: the row with
    /// `admin_state = 'removed'`); `false` = fenced out.
    pub async fn clear_checkpoint(&self, lease: &Lease) -> Result<bool, StoreError> {
        self.owner_update(
            "drop the removed changefeed's checkpoint",
            "checkpoint_ts = NULL, admin_applied = ?",
            lease,
            AdminState::Removed.as_str(),
        )
        .await
    }

    async fn owner_update(
        &self,
        what: &'static str,
        set: &str,
        lease: &Lease,
        value: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn(what).await?;
        let sql = format!(
            "UPDATE {} SET {set}, updated_at = NOW(6)
             WHERE changefeed = ? AND span = '' AND owner = ? AND epoch = ?",
            self.tables.state
        );
        self.bounded(what, async {
            conn.exec_drop(&sql, (value, &lease.changefeed, &lease.owner, lease.epoch))
                .await
                .map_err(|e| self.err(e, self.on_state(what, "UPDATE")))?;
            Ok(conn.affected_rows() == 1)
        })
        .await
    }
}
