//! Durable changefeed checkpoints.
//!
//! A checkpoint ts means every row committed at or before it has been acknowledged by Kafka
//! (see `sink::ack`). [`FileStore`] keeps one small checksummed JSON file per changefeed in
//! the state directory and replaces it atomically (see [`file`]); [`format`] reads it
//! strictly. [`start_ts`] decides where a changefeed starts: its saved checkpoint, else the
//! configured start position — a damaged checkpoint file is an error the operator resolves
//! (restore it, or `tidb-changefeed checkpoint --overwrite-checkpoint-ts`), never a silent
//! start from `start-ts`, which could skip rows. Errors name the file and what to do.
//! [`sql::SqlStore`] keeps checkpoints and ownership leases in a TiDB/MySQL table instead
//! (`[state] store = "mysql"`), with writes fenced by owner and epoch.

pub mod admin;
pub mod file;
pub mod format;
pub mod sql;
pub mod store;

use std::io::ErrorKind;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::StartPosition;

pub use admin::{AdminState, AdminStore, AdminView, Announcer};
pub use file::FileStore;
pub use store::Store;

/// What is stored per changefeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub checkpoint_ts: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint file {path}: cannot {op}: {source}; {}", io_advice(source))]
    Io {
        path: String,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "checkpoint file {path} is damaged: {reason}. The changefeed does not fall back to start-ts, \
         which could skip rows: restore the file from a backup, or set the checkpoint explicitly with \
         `tidb-changefeed checkpoint --config <FILE> --changefeed {changefeed} --overwrite-checkpoint-ts <TS>` \
         (rows committed after TS are sent again; TS must not be below the cluster's GC safepoint)"
    )]
    Corrupt {
        path: String,
        changefeed: String,
        reason: String,
    },
    #[error("state directory {path}: cannot {op}: {source}; {}", io_advice(source))]
    StateDir {
        path: String,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The changefeed's lease may belong to another daemon: nothing was written.
    #[error("checkpoint not saved: {0}")]
    Fenced(#[from] crate::fence::Fenced),
    #[error("the checkpoint store's task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Sql(#[from] sql::StoreError),
}

impl CheckpointError {
    fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        CheckpointError::Io {
            path: path.display().to_string(),
            op,
            source,
        }
    }

    /// The file holds something that is not a checkpoint: the operator must decide.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, CheckpointError::Corrupt { .. })
    }

    /// This daemon may no longer own the changefeed: stop, do not retry the save.
    pub fn is_fenced(&self) -> bool {
        matches!(self, CheckpointError::Fenced(_))
    }
}

/// What the operator should do about an I/O error in the state directory.
pub fn io_advice(e: &std::io::Error) -> &'static str {
    match e.kind() {
        ErrorKind::ReadOnlyFilesystem => {
            "the state directory's file system is read-only: remount it read-write, or move [state] dir with its files to a writable file system"
        }
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
            "the state directory's file system is full: free space on it (or raise its quota)"
        }
        ErrorKind::PermissionDenied => {
            "the daemon's user may not write there: fix the owner or mode of [state] dir"
        }
        ErrorKind::NotFound => "the state directory is missing: create it or fix [state] dir",
        _ => "check that [state] dir exists, is writable and its disk is healthy",
    }
}

/// A TSO from a physical time in milliseconds (logical part 0).
pub fn tso_from_millis(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0) << 18
}

/// Where a changefeed starts: after its saved checkpoint, else at the configured position
/// (`now_tso` is PD's current timestamp, used for `"now"`).
pub fn start_ts(saved: Option<Checkpoint>, configured: StartPosition, now_tso: u64) -> u64 {
    match (saved, configured) {
        (Some(c), _) => c.checkpoint_ts,
        (None, StartPosition::Now) => now_tso,
        (None, fixed) => fixed.fixed_tso().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_position() {
        let saved = Some(Checkpoint { checkpoint_ts: 7 });
        assert_eq!(
            start_ts(saved, StartPosition::Tso(99), 1000),
            7,
            "a saved checkpoint wins"
        );
        assert_eq!(start_ts(None, StartPosition::Now, 1000), 1000);
        assert_eq!(start_ts(None, StartPosition::Tso(99), 1000), 99);
        assert_eq!(start_ts(None, StartPosition::UnixMillis(1), 1000), 1 << 18);
    }

    #[test]
    fn io_errors_say_what_to_do() {
        let e = CheckpointError::io(
            Path::new("/s/cf.checkpoint.json"),
            "write it",
            std::io::Error::from(ErrorKind::StorageFull),
        );
        let t = e.to_string();
        assert!(
            t.contains("/s/cf.checkpoint.json") && t.contains("free space"),
            "{t}"
        );
        let e = CheckpointError::io(
            Path::new("/s/cf.checkpoint.json"),
            "write it",
            std::io::Error::from(ErrorKind::ReadOnlyFilesystem),
        );
        assert!(e.to_string().contains("remount it read-write"), "{e}");
    }
}
