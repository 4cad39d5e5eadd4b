//! Landing a downloaded object in a file: bytes go to a temporary file next to the destination
//! while an [`ObjectCheck`] sees them, and only an accepted, complete file is renamed to its
//! final name. Anything else (an error, a refused check, a dropped download) removes the
//! temporary file, so a reader never finds a partial object under the final name.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::{Result, StorageError};

/// Looks at an object's bytes while it downloads and decides, at the end, whether it may be
/// stored (e.g. compares a content hash with the expected one).
pub trait ObjectCheck: Send + 'static {
    /// Sees the object's bytes in order, each byte exactly once.
    fn update(&mut self, data: &[u8]);
    /// Called after the last byte is written and before the rename. `Err(reason)` discards the
    /// file. It may adjust the file (e.g. make it read-only) through `file`.
    fn finish(self, file: &File) -> std::result::Result<(), String>;
}

/// Accepts every object as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptAll;

impl ObjectCheck for AcceptAll {
    fn update(&mut self, _: &[u8]) {}
    fn finish(self, _: &File) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// A temporary file being filled; removed on drop unless [`FileSink::commit`] succeeded.
pub(crate) struct FileSink<C: ObjectCheck> {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
    check: Option<C>,
    written: u64,
}

impl<C: ObjectCheck> FileSink<C> {
    /// Creates the destination's directory and a temporary file next to it.
    pub(crate) fn create(dest: &Path, check: C) -> Result<Self> {
        let tmp = crate::local::temp_path(dest);
        let file = match File::create(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::local::ensure_parent(dest)?;
                File::create(&tmp).map_err(|e| StorageError::io("creating", &tmp, e))?
            }
            Err(e) => return Err(StorageError::io("creating", &tmp, e)),
        };
        Ok(FileSink { tmp, dest: dest.to_path_buf(), file: Some(file), check: Some(check), written: 0 })
    }

    pub(crate) fn write(&mut self, data: &[u8]) -> Result<()> {
        if let Some(c) = self.check.as_mut() {
            c.update(data);
        }
        if let Some(f) = self.file.as_mut() {
            f.write_all(data).map_err(|e| StorageError::io("writing", &self.tmp, e))?;
        }
        self.written += data.len() as u64;
        Ok(())
    }

    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Runs the check and renames the file to its final name. `store`/`key` name the object
    /// in a refusal.
    pub(crate) fn commit(mut self, store: &str, key: &str) -> Result<()> {
        let (Some(file), Some(check)) = (self.file.take(), self.check.take()) else {
            return Err(StorageError::io("writing", &self.tmp, std::io::Error::other("download already finished")));
        };
        check.finish(&file).map_err(|reason| StorageError::Rejected {
            store: store.to_string(),
            key: key.to_string(),
            reason,
        })?;
        drop(file);
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| StorageError::io("renaming to", &self.dest, e))?;
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl<C: ObjectCheck> Drop for FileSink<C> {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// One message from the network side to the thread writing the file.
pub(crate) enum Piece {
    Data(Bytes),
    /// The whole object arrived; without it the download counts as broken off.
    End,
}

/// Writes pieces arriving on `rx` (blocking; run it on a blocking thread) and commits the file
/// when [`Piece::End`] arrives and the length matches `expected` (when known).
pub(crate) fn write_pieces<C: ObjectCheck>(
    mut rx: tokio::sync::mpsc::Receiver<Piece>,
    dest: &Path,
    check: C,
    expected: Option<u64>,
    store: &str,
    key: &str,
) -> Result<()> {
    let mut sink = FileSink::create(dest, check)?;
    while let Some(piece) = rx.blocking_recv() {
        match piece {
            Piece::Data(b) => sink.write(&b)?,
            Piece::End => {
                if let Some(n) = expected.filter(|n| *n != sink.written()) {
                    return Err(StorageError::S3 {
                        store: store.to_string(),
                        op: "GET",
                        key: key.to_string(),
                        message: format!("the server announced {n} bytes but sent {}", sink.written()),
                    });
                }
                return sink.commit(store, key);
            }
        }
    }
    Err(StorageError::S3 {
        store: store.to_string(),
        op: "GET",
        key: key.to_string(),
        message: "the download was broken off".into(),
    })
}
