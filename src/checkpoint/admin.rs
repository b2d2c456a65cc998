//! A changefeed's admin state — `normal`, `paused` or `removed`, TiCDC's `cdc cli changefeed
//! pause|resume|remove` — as the operator set it, kept in the state store beside the
//! checkpoint so it survives restarts, and the one place the HTTP API writes it.
//!
//! Owns [`AdminStore`]: with the file store the state is part of the changefeed's checkpoint
//! file ([`super::format`]) and every write is announced at once to the changefeed's task in
//! this process through a [`tokio::sync::watch`] channel; with the SQL store it is a column
//! of the changefeed's row, and the daemon owning the changefeed sees it at its next
//! coordinator tick. Guarantees: a write returns only once the state is durable; `removed`
//! is final for the API (a removed changefeed cannot be paused or resumed) and its
//! tombstone outlives restarts; a write never touches the checkpoint except that `removed`
//! is stored without one once its owner has carried the removal out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::sql::SqlStore;
use super::{CheckpointError, FileStore};
/// The states themselves are a foundation type, shown by the status module too.
pub use crate::status::AdminState;

/// One changefeed's admin state and checkpoint as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminView {
    pub admin: AdminState,
    /// What the changefeed's owner last carried out (with the file store: the same as
    /// `admin` once the changefeed's task has acted; see [`Announcer`]).
    pub applied: Option<AdminState>,
    pub checkpoint_ts: Option<u64>,
}

/// Per changefeed, the sender that tells its task of a new admin state (file store).
#[derive(Debug, Clone, Default)]
pub struct Announcer {
    senders: Arc<Mutex<BTreeMap<String, watch::Sender<AdminState>>>>,
}

impl Announcer {
    /// The receiver of `changefeed`'s admin state, starting at `initial`.
    pub fn subscribe(&self, changefeed: &str, initial: AdminState) -> watch::Receiver<AdminState> {
        let mut m = match self.senders.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let (tx, rx) = watch::channel(initial);
        m.insert(changefeed.to_string(), tx);
        rx
    }

    /// Tells `changefeed`'s task its new state (no-op when nobody listens).
    pub fn announce(&self, changefeed: &str, state: AdminState) {
        let m = match self.senders.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if let Some(tx) = m.get(changefeed) {
            tx.send_replace(state);
        }
    }
}

/// Where the API reads and writes admin states.
#[derive(Debug, Clone)]
pub enum AdminStore {
    File {
        store: FileStore,
        announcer: Announcer,
    },
    Sql(SqlStore),
}

impl AdminStore {
    /// `changefeed`'s admin state and checkpoint.
    pub async fn get(&self, changefeed: &str) -> Result<AdminView, CheckpointError> {
        match self {
            AdminStore::File { store, .. } => {
                let (f, id) = (store.clone(), changefeed.to_string());
                let stored = tokio::task::spawn_blocking(move || f.load_stored(&id))
                    .await
                    .map_err(|e| CheckpointError::Task(e.to_string()))??;
                Ok(AdminView {
                    admin: stored.map(|s| s.admin).unwrap_or_default(),
                    applied: None,
                    checkpoint_ts: stored.and_then(|s| s.checkpoint_ts),
                })
            }
            AdminStore::Sql(sql) => Ok(sql.admin_view(changefeed).await?),
        }
    }

    /// Stores `state` as `changefeed`'s admin state (durably), then tells its task.
    pub async fn set(&self, changefeed: &str, state: AdminState) -> Result<(), CheckpointError> {
        match self {
            AdminStore::File { store, announcer } => {
                let (f, id) = (store.clone(), changefeed.to_string());
                tokio::task::spawn_blocking(move || f.set_admin(&id, state))
                    .await
                    .map_err(|e| CheckpointError::Task(e.to_string()))??;
                announcer.announce(changefeed, state);
                Ok(())
            }
            AdminStore::Sql(sql) => Ok(sql.set_admin(changefeed, state).await?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in AdminState::ALL {
            assert_eq!(AdminState::parse(a.as_str()), Some(a));
        }
        assert_eq!(AdminState::parse("stopped"), None);
        assert_eq!(AdminState::default(), AdminState::Normal);
    }

    #[tokio::test]
    async fn the_file_store_keeps_the_state_and_announces_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path());
        store.save("cf", 100).expect("save");
        let announcer = Announcer::default();
        let mut rx = announcer.subscribe("cf", AdminState::Normal);
        let admin = AdminStore::File {
            store: store.clone(),
            announcer,
        };
        admin.set("cf", AdminState::Paused).await.expect("pause");
        assert!(rx.has_changed().expect("sender alive"));
        assert_eq!(*rx.borrow_and_update(), AdminState::Paused);
        let v = admin.get("cf").await.expect("get");
        assert_eq!((v.admin, v.checkpoint_ts), (AdminState::Paused, Some(100)));
        // A save while paused keeps the state.
        store.save("cf", 120).expect("save");
        assert_eq!(
            admin.get("cf").await.expect("get").admin,
            AdminState::Paused
        );
        // Unknown changefeeds read as normal without a checkpoint.
        let v = admin.get("other").await.expect("get");
        assert_eq!((v.admin, v.checkpoint_ts), (AdminState::Normal, None));
    }
}
