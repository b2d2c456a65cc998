//! Where a running changefeed loads and saves its checkpoint: the file store in the state
//! directory, or (with `[state] store = "mysql"`) the SQL store under the changefeed's
//! lease.
//!
//! Owns the choice between the two behind one async interface for the pipeline.
//! Guarantees: a save never moves a checkpoint backwards (both stores keep the higher
//! one) and returns what is stored; the file store's blocking I/O runs on the blocking
//! pool; a leased save is fenced — it writes only while this daemon still holds the lease
//! (owner and epoch match in the table, and the local [`Fence`] is open), and otherwise
//! fails with [`CheckpointError::Fenced`], which ends the pipeline instead of being retried.

use std::time::{Duration, Instant};

use super::admin::AdminState;
use super::sql::{Lease, SqlStore};
use super::{Checkpoint, CheckpointError, FileStore};
use crate::fence::Fence;

/// One changefeed's checkpoint store as the pipeline uses it.
#[derive(Debug, Clone)]
pub enum Store {
    File(FileStore),
    /// The SQL store, written under this daemon's lease on the changefeed.
    Leased(Box<Leased>),
}

/// The SQL store with the lease a save must still hold.
#[derive(Debug, Clone)]
pub struct Leased {
    pub sql: SqlStore,
    pub lease: Lease,
    /// The lease's TTL: a save renews it.
    pub ttl: Duration,
    pub fence: Fence,
}

impl Store {
    /// The SQL store under `lease`, guarded by `fence`.
    pub fn leased(sql: SqlStore, lease: Lease, ttl: Duration, fence: Fence) -> Self {
        Store::Leased(Box::new(Leased {
            sql,
            lease,
            ttl,
            fence,
        }))
    }

    /// The saved checkpoint of `changefeed`, if any.
    pub async fn load(&self, changefeed: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        match self {
            Store::File(f) => {
                let (f, id) = (f.clone(), changefeed.to_string());
                tokio::task::spawn_blocking(move || f.load(&id))
                    .await
                    .map_err(|e| CheckpointError::Task(e.to_string()))?
            }
            Store::Leased(l) => Ok(l
                .sql
                .load(changefeed)
                .await?
                .map(|checkpoint_ts| Checkpoint { checkpoint_ts })),
        }
    }

    /// Saves `ts` unless a higher checkpoint is stored; returns what is stored.
    pub async fn save(&self, changefeed: &str, ts: u64) -> Result<u64, CheckpointError> {
        match self {
            Store::File(f) => {
                let (f, id) = (f.clone(), changefeed.to_string());
                tokio::task::spawn_blocking(move || f.save(&id, ts))
                    .await
                    .map_err(|e| CheckpointError::Task(e.to_string()))?
            }
            Store::Leased(l) => {
                l.fence.check()?;
                let sent = Instant::now();
                if l.sql.save(&l.lease, ts, l.ttl).await? {
                    // The save renewed the lease too.
                    l.fence.extend_until(sent + l.ttl / 2);
                    Ok(ts)
                } else {
                    let why = format!(
                        "the checkpoint save was refused: the lease (epoch {}) is no longer ours",
                        l.lease.epoch
                    );
                    l.fence.revoke(&why);
                    Err(l
                        .fence
                        .check()
                        .err()
                        .map_or(CheckpointError::Task(why), CheckpointError::Fenced))
                }
            }
        }
    }

    /// Records that the changefeed's task carried out `state` (the SQL store's
    /// `admin_applied`, fenced; the file store needs nothing: its file holds the state).
    pub async fn record_applied(
        &self,
        changefeed: &str,
        state: AdminState,
    ) -> Result<(), CheckpointError> {
        match self {
            Store::File(_) => Ok(()),
            Store::Leased(l) => {
                l.fence.check()?;
                if l.sql.set_applied(&l.lease, state).await? {
                    Ok(())
                } else {
                    let why = format!(
                        "recording changefeed {changefeed}'s admin state was refused: the lease (epoch {}) is no longer ours",
                        l.lease.epoch
                    );
                    l.fence.revoke(&why);
                    Err(CheckpointError::Task(why))
                }
            }
        }
    }

    /// Drops a removed changefeed's checkpoint, leaving its tombstone (the admin state
    /// `removed`).
    pub async fn clear_checkpoint(&self, changefeed: &str) -> Result<(), CheckpointError> {
        match self {
            Store::File(f) => {
                let (f, id) = (f.clone(), changefeed.to_string());
                tokio::task::spawn_blocking(move || f.clear_checkpoint(&id))
                    .await
                    .map_err(|e| CheckpointError::Task(e.to_string()))?
            }
            Store::Leased(l) => {
                l.fence.check()?;
                if l.sql.clear_checkpoint(&l.lease).await? {
                    Ok(())
                } else {
                    Err(CheckpointError::Task(format!(
                        "dropping changefeed {changefeed}'s checkpoint was refused: the lease (epoch {}) is no longer ours",
                        l.lease.epoch
                    )))
                }
            }
        }
    }

    /// Where `changefeed`'s checkpoint lives, for logs.
    pub fn location(&self, changefeed: &str) -> String {
        match self {
            Store::File(f) => f.path(changefeed).display().to_string(),
            Store::Leased(l) => format!("{} (changefeed {changefeed})", l.sql.describe()),
        }
    }

    /// The write fence of the changefeed's lease (unbounded for the file store).
    pub fn fence(&self) -> Fence {
        match self {
            Store::File(_) => Fence::unbounded(),
            Store::Leased(l) => l.fence.clone(),
        }
    }
}
