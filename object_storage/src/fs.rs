//! File-system work of the stores, in one place: running it off the async worker threads, and
//! writing files atomically through the workspace's one atomic write ([`atomic_file`]).

use std::path::Path;

use atomic_file::Durability;

use crate::{Result, StorageError};

/// Runs file-system work on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StorageError::io("running", "", std::io::Error::other(e)))?
}

/// Writes `data` to `dest` atomically and durably: a local store is somebody's remote or cache.
pub(crate) fn write(dest: &Path, data: &[u8]) -> Result<()> {
    atomic_file::write(dest, data, Durability::Durable).map_err(|e| StorageError::io("writing", dest, e))
}

/// Copies `src` to `dest` atomically and durably; the copy is writable even when `src` is not
/// (DVC cache objects are read-only).
pub(crate) fn copy(src: &Path, dest: &Path) -> Result<()> {
    match atomic_file::copy(src, dest, Durability::Durable) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !src.exists() => Err(StorageError::io("reading", src, e)),
        Err(e) => Err(StorageError::io("copying to", dest, e)),
    }
}

/// Whether a file in a local store is a write in progress, not an object.
pub(crate) fn is_temp_name(name: &str) -> bool {
    atomic_file::is_temp_name(name)
}
