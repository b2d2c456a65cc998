//! A table's spill file: changes that did not fit the memory quota, appended as
//! length-prefixed records; held in memory only as (order key, offset, length). The file is
//! removed when the sorter is dropped. Spilled data is a cache of what TiKV will resend
//! after a restart (the checkpoint never passes unreleased changes), so it is not fsynced.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::change;
use crate::event::KvChange;

#[derive(Debug)]
pub struct SpillFile {
    path: PathBuf,
    file: File,
    len: u64,
}

impl SpillFile {
    pub fn create(path: PathBuf) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        Ok(SpillFile { path, file, len: 0 })
    }

    /// Appends `c`; returns where it is.
    pub fn append(&mut self, c: &KvChange) -> std::io::Result<(u64, u32)> {
        let mut buf = Vec::with_capacity(c.size());
        change::encode(c, &mut buf);
        self.file.seek(SeekFrom::End(0))?;
        self.file.write_all(&buf)?;
        let at = self.len;
        self.len += buf.len() as u64;
        let len = u32::try_from(buf.len()).map_err(std::io::Error::other)?;
        Ok((at, len))
    }

    pub fn read(&mut self, at: u64, len: u32) -> std::io::Result<KvChange> {
        let mut buf = vec![0; len as usize];
        self.file.seek(SeekFrom::Start(at))?;
        self.file.read_exact(&mut buf)?;
        change::decode(&buf).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("corrupt spill record at {at} in {}", self.path.display()),
            )
        })
    }

    /// Empties the file once nothing in it is held any more.
    pub fn reset(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.len = 0;
        Ok(())
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
