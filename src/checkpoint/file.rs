//! The file checkpoint store: one file per changefeed in the state directory.
//!
//! Guarantees: a save replaces the file atomically (write a temporary file, fsync it, rename
//! it over the old one, fsync the directory), so a crash, a full disk or a read-only file
//! system leaves the previous checkpoint in place and valid, never a torn one; a failed save
//! removes its temporary file. Reads are strict ([`super::format`]): a damaged file is
//! [`CheckpointError::Corrupt`], never "no checkpoint". `save` never moves a checkpoint
//! backwards; only [`FileStore::overwrite`] (the operator's explicit choice) does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

    /// The saved checkpoint of `changefeed`, if any.
    pub fn load(&self, changefeed: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = self.path(changefeed);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::io(&path, "read it", source)),
        };
        format::decode(changefeed, &text)
            .map(|checkpoint_ts| Some(Checkpoint { checkpoint_ts }))
            .map_err(|reason| CheckpointError::Corrupt {
                path: path.display().to_string(),
                changefeed: changefeed.to_string(),
                reason,
            })
    }

    /// Saves `ts` unless an equal or higher checkpoint is already saved; returns the
    /// checkpoint now stored.
    pub fn save(&self, changefeed: &str, ts: u64) -> Result<u64, CheckpointError> {
        let _one_at_a_time = self.lock();
        if let Some(old) = self.load(changefeed)?
            && old.checkpoint_ts >= ts
        {
            return Ok(old.checkpoint_ts);
        }
        self.write(changefeed, ts)?;
        Ok(ts)
    }

    /// Replaces `changefeed`'s checkpoint with `ts` whatever is stored (even a damaged
    /// file, even a higher ts): the operator's `--overwrite-checkpoint-ts`.
    pub fn overwrite(&self, changefeed: &str, ts: u64) -> Result<(), CheckpointError> {
        let _one_at_a_time = self.lock();
        self.write(changefeed, ts)
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

    fn write(&self, changefeed: &str, ts: u64) -> Result<(), CheckpointError> {
        let path = self.path(changefeed);
        let err = |op, source| CheckpointError::io(&path, op, source);
        std::fs::create_dir_all(&self.dir).map_err(|e| err("create its directory", e))?;
        let tmp = self.dir.join(format!(".{changefeed}.checkpoint.json.tmp"));
        if let Err(e) = write_synced(&tmp, &format::encode(changefeed, ts)) {
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
    fn probe_creates_the_dir_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path().join("a/b"));
        store.probe().expect("probe");
        assert!(names(&dir.path().join("a/b")).is_empty());
    }
}
