//! Durable changefeed checkpoints.
//!
//! A checkpoint ts means every row committed at or before it has been acknowledged by Kafka
//! (see `sink::ack`). The file store keeps one small JSON file per changefeed in the state
//! directory and replaces it atomically (write a temporary file, fsync, rename, fsync the
//! directory), so a crash leaves either the old or the new checkpoint, never a torn one; a
//! checkpoint never moves backwards through `save`. [`start_ts`] decides where a changefeed
//! starts: its saved checkpoint, else the configured start position.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::config::StartPosition;

/// What is stored per changefeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub checkpoint_ts: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "checkpoint file {path}: {source}; check the state directory ([state] dir) exists and is writable"
    )]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "checkpoint file {path} is not a checkpoint ({reason}); move it away to start from the configured start-ts"
    )]
    Corrupt { path: String, reason: String },
}

/// Checkpoints as files in the state directory. Clones share one lock, so saves through
/// them never interleave (a save still running on the blocking pool after its caller gave up
/// finishes before the next starts).
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
    saving: Arc<Mutex<()>>,
}

impl FileStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileStore {
            dir: dir.into(),
            saving: Arc::default(),
        }
    }

    fn path(&self, changefeed: &str) -> PathBuf {
        self.dir.join(format!("{changefeed}.checkpoint.json"))
    }

    /// The saved checkpoint of `changefeed`, if any.
    pub fn load(&self, changefeed: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = self.path(changefeed);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| CheckpointError::Corrupt {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
    }

    /// Saves `ts` unless an equal or higher checkpoint is already saved; returns the
    /// checkpoint now stored.
    pub fn save(&self, changefeed: &str, ts: u64) -> Result<u64, CheckpointError> {
        let _one_at_a_time = match self.saving.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(old) = self.load(changefeed)?
            && old.checkpoint_ts >= ts
        {
            return Ok(old.checkpoint_ts);
        }
        let path = self.path(changefeed);
        let err = |source| CheckpointError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(err)?;
        let body = serde_json::to_vec(&Checkpoint { checkpoint_ts: ts })
            .map_err(|e| err(std::io::Error::other(e)))?;
        let tmp = self.dir.join(format!(".{changefeed}.checkpoint.json.tmp"));
        write_synced(&tmp, &body).map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)?;
        sync_dir(&self.dir).map_err(err)?;
        Ok(ts)
    }
}

fn write_synced(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(body)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
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
        (None, StartPosition::Tso(t)) => t,
        (None, StartPosition::UnixMillis(ms)) => tso_from_millis(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_atomically_and_never_moves_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path().join("state"));
        assert_eq!(store.load("cf").expect("load"), None);
        assert_eq!(store.save("cf", 100).expect("save"), 100);
        assert_eq!(store.save("cf", 90).expect("save"), 100, "never backwards");
        assert_eq!(store.save("cf", 120).expect("save"), 120);
        assert_eq!(
            store.load("cf").expect("load"),
            Some(Checkpoint { checkpoint_ts: 120 })
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("state"))
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(leftovers, vec!["cf.checkpoint.json".to_string()]);
    }

    #[test]
    fn a_corrupt_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cf.checkpoint.json"), b"{not json").expect("write");
        let e = FileStore::new(dir.path()).load("cf").expect_err("corrupt");
        assert!(e.to_string().contains("is not a checkpoint"), "{e}");
    }

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
}
