//! Local directory store: objects are files below a root directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::download::{FileSink, ObjectCheck};
use crate::fs::{blocking, is_temp_name};
use crate::{Conditional, ObjectInfo, Result, StorageError, check_key};

/// A store rooted at a local directory.
#[derive(Clone, Debug)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store below `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    fn not_found(&self, key: &str) -> StorageError {
        StorageError::NotFound { store: self.root.display().to_string(), key: key.to_string() }
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Bytes> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(v) => Ok(Bytes::from(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.not_found(key)),
            Err(e) => Err(StorageError::io("reading", path, e)),
        }
    }

    pub(crate) async fn get_if_none_match(&self, key: &str, etag: Option<&str>) -> Result<Conditional> {
        let path = self.path(key)?;
        let etag = etag.map(str::to_string);
        blocking(move || {
            use std::io::Read;
            // The ETag and the bytes come from the same open file, so they always belong together.
            let mut file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Conditional::Missing),
                Err(e) => return Err(StorageError::io("reading", path, e)),
            };
            let meta = file.metadata().map_err(|e| StorageError::io("reading", &path, e))?;
            let current = file_etag(&meta);
            if etag.as_deref() == Some(current.as_str()) {
                return Ok(Conditional::NotModified);
            }
            let mut data = Vec::with_capacity(meta.len() as usize);
            file.read_to_end(&mut data).map_err(|e| StorageError::io("reading", &path, e))?;
            Ok(Conditional::Found { bytes: Bytes::from(data), etag: Some(current) })
        })
        .await
    }

    pub(crate) async fn get_limited(&self, key: &str, limit: u64) -> Result<Bytes> {
        let path = self.path(key)?;
        let (store, key) = (self.root.display().to_string(), key.to_string());
        blocking(move || {
            use std::io::Read;
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StorageError::NotFound { store, key });
                }
                Err(e) => return Err(StorageError::io("reading", path, e)),
            };
            let size = file.metadata().map_err(|e| StorageError::io("reading", &path, e))?.len();
            if size > limit {
                return Err(StorageError::TooLarge { store, key, size, limit });
            }
            // The file may grow while it is read: never take more than the limit.
            let mut data = Vec::with_capacity(size as usize);
            file.take(limit + 1).read_to_end(&mut data).map_err(|e| StorageError::io("reading", &path, e))?;
            if data.len() as u64 > limit {
                return Err(StorageError::TooLarge { store, key, size: data.len() as u64, limit });
            }
            Ok(Bytes::from(data))
        })
        .await
    }

    pub(crate) async fn get_to_file(&self, key: &str, dest: &Path) -> Result<()> {
        let src = self.path(key)?;
        if !tokio::fs::try_exists(&src).await.unwrap_or(false) {
            return Err(self.not_found(key));
        }
        let dest = dest.to_path_buf();
        blocking(move || crate::fs::copy(&src, &dest)).await
    }

    /// Runs `read` over the file ([`crate::Store::read_streamed`]).
    pub(crate) async fn read_streamed<T, F>(&self, key: &str, read: F) -> Result<T>
    where
        F: FnOnce(&mut dyn std::io::BufRead) -> T + Send + 'static,
        T: Send + 'static,
    {
        let src = self.path(key)?;
        let (store, key) = (self.root.display().to_string(), key.to_string());
        blocking(move || match std::fs::File::open(&src) {
            Ok(f) => Ok(read(&mut std::io::BufReader::with_capacity(1 << 20, f))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StorageError::NotFound { store, key }),
            Err(e) => Err(StorageError::io("reading", src, e)),
        })
        .await
    }

    pub(crate) async fn get_to_file_checked<C: ObjectCheck>(&self, key: &str, dest: &Path, check: C) -> Result<()> {
        let src = self.path(key)?;
        let dest = dest.to_path_buf();
        let (store, key) = (self.root.display().to_string(), key.to_string());
        blocking(move || {
            use std::io::Read;
            let mut file = match std::fs::File::open(&src) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StorageError::NotFound { store, key });
                }
                Err(e) => return Err(StorageError::io("reading", src, e)),
            };
            let mut sink = FileSink::create(&dest, check)?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(StorageError::io("reading", &src, e)),
                };
                sink.write(&buf[..n])?;
            }
            sink.commit(&store, &key)
        })
        .await
    }

    pub(crate) async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let dest = self.path(key)?;
        blocking(move || crate::fs::write(&dest, &data)).await
    }

    pub(crate) async fn put_file(&self, key: &str, src: &Path) -> Result<()> {
        let dest = self.path(key)?;
        let src = src.to_path_buf();
        blocking(move || crate::fs::copy(&src, &dest)).await
    }

    pub(crate) async fn exists(&self, key: &str) -> Result<bool> {
        let path = self.path(key)?;
        tokio::fs::try_exists(&path).await.map_err(|e| StorageError::io("checking", path, e))
    }

    pub(crate) async fn list_info(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let root = self.root.clone();
        let prefix = prefix.trim_matches('/').to_string();
        blocking(move || {
            let start = if prefix.is_empty() { root.clone() } else { root.join(&prefix) };
            let mut out = Vec::new();
            walk(&root, &start, &mut out)?;
            Ok(out)
        })
        .await
    }

    pub(crate) async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let path = self.path(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => {
                Ok(Some(ObjectInfo { key: key.to_string(), etag: Some(file_etag(&meta)), size: meta.len() }))
            }
            Ok(_) => Ok(None),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => Ok(None),
            Err(e) => Err(StorageError::io("reading", path, e)),
        }
    }

    pub(crate) async fn remove_stale_temp_files(&self, keys: &[String], min_age: Duration) -> Result<usize> {
        let mut dirs = BTreeSet::new();
        for key in keys {
            if let Some(dir) = self.path(key)?.parent() {
                dirs.insert(dir.to_path_buf());
            }
        }
        blocking(move || remove_stale_temps(&dirs, min_age)).await
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io("deleting", path, e)),
        }
    }
}

/// A local file's ETag: size, modification time (ns) and inode. Writes replace the file by a
/// rename, so a new version is a new inode even within one clock tick.
fn file_etag(meta: &std::fs::Metadata) -> String {
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).unwrap_or_default();
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0u64;
    format!("{:x}-{:x}-{inode:x}", meta.len(), mtime.as_nanos())
}

/// See [`crate::Store::remove_stale_temp_files`]. A temporary file's modification time moves
/// with every write to it, so one untouched for `min_age` belongs to a write that is over, not to
/// one in progress in another process.
fn remove_stale_temps(dirs: &BTreeSet<PathBuf>, min_age: Duration) -> Result<usize> {
    let Some(cutoff) = SystemTime::now().checked_sub(min_age) else { return Ok(0) };
    let mut removed = 0;
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StorageError::io("listing", dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io("listing", dir, e))?;
            if !is_temp_name(&entry.file_name().to_string_lossy()) {
                continue;
            }
            let path = entry.path();
            // Gone meanwhile (its write committed or cleaned up): nothing to do.
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() || !meta.modified().is_ok_and(|m| m <= cutoff) {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("removing the stale temporary file", path, e)),
            }
        }
    }
    Ok(removed)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<ObjectInfo>) -> Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StorageError::io("listing", dir, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| StorageError::io("listing", dir, e))?;
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| StorageError::io("listing", &path, e))?;
        if ft.is_dir() {
            walk(root, &path, out)?;
        } else if !is_temp_name(&entry.file_name().to_string_lossy())
            && let Ok(rel) = path.strip_prefix(root)
        {
            // Removed meanwhile: not part of the listing.
            let Ok(meta) = entry.metadata() else { continue };
            let key = rel.to_string_lossy().replace('\\', "/");
            out.push(ObjectInfo { key, etag: Some(file_etag(&meta)), size: meta.len() });
        }
    }
    Ok(())
}
