//! Landing a downloaded object in a file: bytes go to a temporary file next to the destination
//! while an [`ObjectCheck`] sees them, and only an accepted, complete file is renamed to its
//! final name. Anything else (an error, a refused check, a dropped download) removes the
//! temporary file, so a reader never finds a partial object under the final name.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use atomic_file::{AtomicFile, Durability};
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
    file: AtomicFile,
    check: C,
    written: u64,
}

impl<C: ObjectCheck> FileSink<C> {
    /// Creates the destination's directory and a temporary file next to it. The file is
    /// flushed to the disk before its rename: downloads fill caches that must survive a crash.
    pub(crate) fn create(dest: &Path, check: C) -> Result<Self> {
        let file = AtomicFile::create(dest, Durability::Durable).map_err(|e| StorageError::io("creating", dest, e))?;
        Ok(FileSink { file, check, written: 0 })
    }

    pub(crate) fn write(&mut self, data: &[u8]) -> Result<()> {
        self.check.update(data);
        self.file.write_all(data).map_err(|e| StorageError::io("writing", self.file.destination(), e))?;
        self.written += data.len() as u64;
        Ok(())
    }

    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Runs the check and renames the file to its final name. `store`/`key` name the object
    /// in a refusal.
    pub(crate) fn commit(self, store: &str, key: &str) -> Result<()> {
        let FileSink { file, check, .. } = self;
        check.finish(file.file()).map_err(|reason| StorageError::Rejected {
            store: store.to_string(),
            key: key.to_string(),
            reason,
        })?;
        let dest = file.destination().to_path_buf();
        file.commit().map_err(|e| StorageError::io("renaming to", &dest, e))
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
                        transient: true,
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
        transient: true,
    })
}
