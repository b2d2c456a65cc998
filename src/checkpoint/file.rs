//! The file checkpoint store: one file per changefeed in the state directory.
//!
//! Guarantees: a save replaces the file atomically (write a temporary file, fsync it, rename
//! it over the old one, fsync the directory), so a crash, a full disk or a read-only file
//! system leaves the previous checkpoint in place and valid, never a torn one; a failed save
//! removes its temporary file. Reads are strict ([`super::format`]): a damaged file is
//! [`CheckpointError::Corrupt`], never "no checkpoint". `save` never moves a checkpoint
//! backwards; only [`FileStore::overwrite`] (the operator's explicit choice) does. The file
//! also holds the changefeed's admin state ([`AdminState`]): `save` and `overwrite` keep it
//! (except that an overwrite re-creates a removed changefeed), [`FileStore::set_admin`]
//! changes it and [`FileStore::clear_checkpoint`] leaves a removed changefeed's tombstone.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::admin::AdminState;
use super::format::Stored;
use super::{Checkpoint, CheckpointError, format};

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

    /// The file of `changefeed`'s checkpoint.
    pub fn path(&self, changefeed: &str) -> PathBuf {
        self.dir.join(format!("{changefeed}.checkpoint.json"))
    }

    /// The saved checkpoint of `changefeed`, if any (a removed changefeed's tombstone has
    /// none).
    pub fn load(&self, changefeed: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        Ok(self
            .load_stored(changefeed)?
            .and_then(|s| s.checkpoint_ts)
            .map(|checkpoint_ts| Checkpoint { checkpoint_ts }))
    }

    /// The file's checkpoint and admin state, if the file exists.
    pub fn load_stored(&self, changefeed: &str) -> Result<Option<Stored>, CheckpointError> {
        let path = self.path(changefeed);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::io(&path, "read it", source)),
        };
        format::decode_stored(changefeed, &text)
            .map(Some)
            .map_err(|reason| CheckpointError::Corrupt {
                path: path.display().to_string(),
                changefeed: changefeed.to_string(),
                reason,
            })
    }

    /// Saves `ts` unless an equal or higher checkpoint is already saved; returns the
    /// checkpoint now stored. The admin state is kept.
    pub fn save(&self, changefeed: &str, ts: u64) -> Result<u64, CheckpointError> {
        let _one_at_a_time = self.lock();
        let old = self.load_stored(changefeed)?;
        if let Some(cp) = old.and_then(|o| o.checkpoint_ts)
            && cp >= ts
        {
            return Ok(cp);
        }
        let admin = old.map(|o| o.admin).unwrap_or_default();
        self.write(
            changefeed,
            Stored {
                checkpoint_ts: Some(ts),
                admin,
            },
        )?;
        Ok(ts)
    }

    /// Replaces `changefeed`'s checkpoint with `ts` whatever is stored (even a damaged
    /// file, even a higher ts): the operator's `--overwrite-checkpoint-ts`. A paused
    /// changefeed stays paused; a removed one is re-created (normal, from `ts`).
    pub fn overwrite(&self, changefeed: &str, ts: u64) -> Result<(), CheckpointError> {
        let _one_at_a_time = self.lock();
        let admin = match self.load_stored(changefeed) {
            Ok(Some(Stored {
                admin: AdminState::Paused,
                ..
            })) => AdminState::Paused,
            _ => AdminState::Normal,
        };
        self.write(
            changefeed,
            Stored {
                checkpoint_ts: Some(ts),
                admin,
            },
        )
    }

    /// Stores `admin` as the changefeed's admin state, keeping its checkpoint. A changefeed
    /// without a file gets a file without a checkpoint only when removed; pausing it before
    /// it ever saved is refused by the caller (nothing to keep).
    pub fn set_admin(&self, changefeed: &str, admin: AdminState) -> Result<(), CheckpointError> {
        let _one_at_a_time = self.lock();
        let checkpoint_ts = self.load_stored(changefeed)?.and_then(|s| s.checkpoint_ts);
        if checkpoint_ts.is_none() && admin != AdminState::Removed {
            if admin == AdminState::Normal {
                return Ok(());
            }
            return Err(CheckpointError::Task(format!(
                "changefeed {changefeed} has no saved checkpoint yet: nothing to pause from"
            )));
        }
        self.write(
            changefeed,
            Stored {
                checkpoint_ts,
                admin,
            },
        )
    }

    /// Drops a removed changefeed's checkpoint, leaving its tombstone.
    pub fn clear_checkpoint(&self, changefeed: &str) -> Result<(), CheckpointError> {
        let _one_at_a_time = self.lock();
        self.write(
            changefeed,
            Stored {
                checkpoint_ts: None,
                admin: AdminState::Removed,
            },
        )
    }

    /// Proves the state directory takes a durable write now: creates it if missing, then
    /// writes, fsyncs and removes a small probe file.
    pub fn probe(&self) -> Result<(), CheckpointError> {
        let dir_err = |op, source| CheckpointError::StateDir {
            path: self.dir.display().to_string(),
            op,
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| dir_err("create it", e))?;
        let probe = self
            .dir
            .join(format!(".write-probe-{}.tmp", std::process::id()));
        let written = write_synced(&probe, &[0u8; 512]);
        let _ = std::fs::remove_file(&probe);
        written.map_err(|e| dir_err("write a file in it", e))?;
        sync_dir(&self.dir).map_err(|e| dir_err("sync it", e))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        match self.saving.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn write(&self, changefeed: &str, stored: Stored) -> Result<(), CheckpointError> {
        let path = self.path(changefeed);
        let err = |op, source| CheckpointError::io(&path, op, source);
        std::fs::create_dir_all(&self.dir).map_err(|e| err("create its directory", e))?;
        let tmp = self.dir.join(format!(".{changefeed}.checkpoint.json.tmp"));
        if let Err(e) = write_synced(&tmp, &format::encode_stored(changefeed, stored)) {
            // A full disk keeps nothing half-written; the old file is untouched.
            let _ = std::fs::remove_file(&tmp);
            return Err(err("write it", e));
        }
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(err("replace it", e));
        }
        sync_dir(&self.dir).map_err(|e| err("sync its directory", e))
    }
}

fn write_synced(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(body)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

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
        assert_eq!(
            names(&dir.path().join("state")),
            vec!["cf.checkpoint.json".to_string()]
        );
    }

    #[test]
    fn a_damaged_file_is_named_with_what_to_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path());
        std::fs::write(
            store.path("cf"),
            b"{\"changefeed\":\"cf\",\"checkpoint_ts\":12",
        )
        .expect("write");
        let e = store.load("cf").expect_err("truncated");
        let text = e.to_string();
        assert!(e.is_corrupt(), "{text}");
        assert!(
            text.contains(&store.path("cf").display().to_string()),
            "{text}"
        );
        assert!(text.contains("--overwrite-checkpoint-ts"), "{text}");
        assert!(text.contains("start-ts"), "{text}");
        // save refuses to build on a damaged file instead of replacing it.
        assert!(store.save("cf", 5).expect_err("damaged").is_corrupt());
    }

    #[test]
    fn overwrite_replaces_a_damaged_or_higher_checkpoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path());
        std::fs::write(store.path("cf"), b"").expect("write");
        store.overwrite("cf", 50).expect("overwrite");
        assert_eq!(
            store.load("cf").expect("load").map(|c| c.checkpoint_ts),
            Some(50)
        );
        store.save("cf", 80).expect("save");
        store.overwrite("cf", 60).expect("overwrite backwards");
        assert_eq!(
            store.load("cf").expect("load").map(|c| c.checkpoint_ts),
            Some(60)
        );
    }

    #[test]
    fn admin_state_survives_saves_and_removal_leaves_a_tombstone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path());
        assert!(
            store.set_admin("cf", AdminState::Paused).is_err(),
            "nothing saved yet"
        );
        store.save("cf", 100).expect("save");
        store.set_admin("cf", AdminState::Paused).expect("pause");
        assert_eq!(store.save("cf", 150).expect("save"), 150);
        let s = store.load_stored("cf").expect("load").expect("file");
        assert_eq!((s.admin, s.checkpoint_ts), (AdminState::Paused, Some(150)));
        store.overwrite("cf", 140).expect("overwrite");
        assert_eq!(
            store.load_stored("cf").expect("load").map(|s| s.admin),
            Some(AdminState::Paused),
            "an overwrite keeps a pause"
        );
        store.set_admin("cf", AdminState::Removed).expect("remove");
        assert_eq!(
            store.load("cf").expect("load").map(|c| c.checkpoint_ts),
            Some(140),
            "kept until the removal is carried out"
        );
        store.clear_checkpoint("cf").expect("tombstone");
        assert_eq!(store.load("cf").expect("load"), None);
        let s = store.load_stored("cf").expect("load").expect("tombstone");
        assert_eq!((s.admin, s.checkpoint_ts), (AdminState::Removed, None));
        store.overwrite("cf", 200).expect("re-create");
        let s = store.load_stored("cf").expect("load").expect("file");
        assert_eq!((s.admin, s.checkpoint_ts), (AdminState::Normal, Some(200)));
    }

    #[test]
    fn probe_creates_the_dir_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path().join("a/b"));
        store.probe().expect("probe");
        assert!(names(&dir.path().join("a/b")).is_empty());
    }
}
