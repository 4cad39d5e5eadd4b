//! Object storage: S3-compatible buckets and local directories behind one small async
//! interface (`Store`). Keys are `/`-separated and relative to the store's root (an S3
//! `bucket/prefix` or a directory). Writes are atomic: a reader never sees half an object.
//!
//! Used by the DVC-compatible pipeline (cache remotes), by `publish`, and by the serving
//! service to load published models (`MODEL_URI=s3://bucket/prefix/`). [`S3Options::resolve`]
//! is the only place that turns a URL and settings into S3 options; the S3 store is the only
//! layer that retries S3 operations.

mod download;
mod error;
mod fs;
mod local;
mod redact;
mod s3;
mod settings;
mod stream_read;

use std::path::{Path, PathBuf};

use bytes::Bytes;

pub use download::{AcceptAll, ObjectCheck};
pub use error::StorageError;
pub use local::LocalStore;
pub use redact::{redact_url, redact_urls};
pub use s3::S3Store;
pub use settings::{AwsEnv, DEFAULT_REGION, S3Options, S3Settings};

/// Objects [`Store::get_many`] reads at once: enough to hide an S3 round trip (tens of
/// milliseconds) behind the others, few enough not to hold many connections.
pub const GETS_AT_ONCE: usize = 16;

/// Result type of every storage operation.
pub type Result<T> = std::result::Result<T, StorageError>;

/// The answer to a conditional read ([`Store::get_if_none_match`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conditional {
    /// The object still has the ETag the caller gave: nothing was transferred.
    NotModified,
    /// There is no such object.
    Missing,
    /// The object (new, or changed since the caller's ETag) and its current ETag, to send with
    /// the next read.
    Found { bytes: Bytes, etag: Option<String> },
}

/// What a store says about one object without reading it ([`Store::head`], [`Store::list_info`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key, relative to the store root (and, from a listing, including the listed prefix).
    pub key: String,
    /// The ETag exactly as the store gave it (S3: usually the quoted md5 of a single PUT, or
    /// `"<hex>-N"` for a multipart upload; a local directory: size, time and inode).
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: u64,
}

/// A place objects live: an S3 bucket prefix or a local directory.
#[derive(Clone, Debug)]
pub enum Store {
    /// A directory on the local file system.
    Local(LocalStore),
    /// A bucket (and key prefix) on an S3-compatible server.
    S3(S3Store),
}

impl Store {
    /// A store rooted at a local directory (created on first write).
    pub fn local(root: impl Into<PathBuf>) -> Self {
        Store::Local(LocalStore::new(root))
    }

    /// A store rooted at `s3://bucket/prefix` with explicit connection options.
    pub fn s3(opts: S3Options) -> Result<Self> {
        Ok(Store::S3(S3Store::new(opts)?))
    }

    /// Human-readable location, e.g. `s3://bucket/prefix` or `/srv/remote`.
    pub fn describe(&self) -> String {
        match self {
            Store::Local(l) => l.root().display().to_string(),
            Store::S3(s) => s.describe(),
        }
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        match self {
            Store::Local(l) => l.get(key).await,
            Store::S3(s) => s.get(key).await,
        }
    }

    /// Reads the whole objects `keys`, in their order, [`GETS_AT_ONCE`] at a time: a model set's
    /// hundreds of small files cost a few round trips' time, not one each. The first error ends
    /// it (each read retries as [`Store::get`] does).
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Bytes>> {
        use futures_util::{StreamExt, TryStreamExt};
        // Owned keys: a future borrowing the slice's items would not be Send for every lifetime.
        futures_util::stream::iter(keys.iter().cloned())
            .map(|key| async move { self.get(&key).await })
            .buffered(GETS_AT_ONCE)
            .try_collect()
            .await
    }

    /// Reads a whole object unless it is larger than `max_bytes`, which fails with
    /// [`StorageError::TooLarge`] before the body is downloaded (S3: from the Content-Length of
    /// the answer; a server that sends none is cut off at the limit).
    pub async fn get_limited(&self, key: &str, max_bytes: u64) -> Result<Bytes> {
        match self {
            Store::Local(l) => l.get_limited(key, max_bytes).await,
            Store::S3(s) => s.get_limited(key, max_bytes).await,
        }
    }

    /// Reads an object unless it still has the ETag `etag` (from an earlier
    /// [`Conditional::Found`]): for pollers, so an unchanged object costs one small round trip
    /// and no body. S3 sends `If-None-Match` and maps `304 Not Modified`; a local directory
    /// derives the ETag from the file's size, modification time and inode (atomic writes always
    /// make a new file, so a rewrite changes it).
    pub async fn get_if_none_match(&self, key: &str, etag: Option<&str>) -> Result<Conditional> {
        match self {
            Store::Local(l) => l.get_if_none_match(key, etag).await,
            Store::S3(s) => s.get_if_none_match(key, etag).await,
        }
    }

    /// Downloads an object into `dest`, atomically (temporary file next to it, then rename).
    pub async fn get_to_file(&self, key: &str, dest: &Path) -> Result<()> {
        match self {
            Store::Local(l) => l.get_to_file(key, dest).await,
            Store::S3(s) => s.get_to_file_checked(key, dest, || AcceptAll).await,
        }
    }

    /// Downloads an object into `dest` like [`Store::get_to_file`], showing every byte to a
    /// check made by `make_check` (a fresh one for each attempt); the file gets its final name
    /// only if the check accepts it at the end (otherwise [`StorageError::Rejected`] and nothing
    /// is left behind).
    pub async fn get_to_file_checked<C: ObjectCheck>(
        &self,
        key: &str,
        dest: &Path,
        make_check: impl Fn() -> C,
    ) -> Result<()> {
        match self {
            Store::Local(l) => l.get_to_file_checked(key, dest, make_check()).await,
            Store::S3(s) => s.get_to_file_checked(key, dest, make_check).await,
        }
    }

    /// Reads an object in one pass as it arrives: `read` runs on a blocking thread with the
    /// object's bytes as a `BufRead` (a few pieces in memory whatever the object's size; nothing
    /// on disk). When an S3 download breaks off, the reader fails with an error, `read`'s result
    /// is dropped and the whole read is tried again under the store's retry policy, so `read`
    /// must depend on the bytes alone (and write any output afresh). `read`'s own errors are in
    /// its result; the outer error is the store's (missing object, unreachable server, retries
    /// spent).
    pub async fn read_streamed<T, F>(&self, key: &str, read: F) -> Result<T>
    where
        F: Fn(&mut dyn std::io::BufRead) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        match self {
            Store::Local(l) => l.read_streamed(key, read).await,
            Store::S3(s) => s.read_streamed(key, std::sync::Arc::new(read)).await,
        }
    }

    /// Writes an object atomically.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        match self {
            Store::Local(l) => l.put(key, data).await,
            Store::S3(s) => s.put(key, data, None).await,
        }
    }

    /// Writes an object with a Content-Type (e.g. `image/png`). Local directories keep no
    /// content types, so there it is the same as [`Store::put`].
    pub async fn put_with_type(&self, key: &str, data: Bytes, content_type: &str) -> Result<()> {
        match self {
            Store::Local(l) => l.put(key, data).await,
            Store::S3(s) => s.put(key, data, Some(content_type)).await,
        }
    }

    /// Uploads a local file as an object, atomically.
    pub async fn put_file(&self, key: &str, src: &Path) -> Result<()> {
        match self {
            Store::Local(l) => l.put_file(key, src).await,
            Store::S3(s) => s.put_file(key, src).await,
        }
    }

    /// Whether an object exists.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self {
            Store::Local(l) => l.exists(key).await,
            Store::S3(s) => s.exists(key).await,
        }
    }

    /// All keys below `prefix` (relative to the store root), in no particular order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self.list_info(prefix).await?.into_iter().map(|o| o.key).collect())
    }

    /// Every object below `prefix` (relative to the store root) with its ETag and size, in no
    /// particular order: one listing, no request per object.
    pub async fn list_info(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        match self {
            Store::Local(l) => l.list_info(prefix).await,
            Store::S3(s) => s.list_info(prefix).await,
        }
    }

    /// The object's ETag and size, or `None` when there is no such object (S3: a HEAD request;
    /// a missing bucket reads as a missing object, as a HEAD cannot tell them apart).
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        match self {
            Store::Local(l) => l.head(key).await,
            Store::S3(s) => s.head(key).await,
        }
    }

    /// Removes the temporary files that writes of objects broke off (a process killed during
    /// `put_file` leaves its `.<name>.<random>.tmp` behind) from the directories the objects
    /// `keys` live in, when nothing was written to them for `min_age`. Returns how many were
    /// removed. Only a local directory has such files: an S3 object appears whole or not at all.
    pub async fn remove_stale_temp_files(&self, keys: &[String], min_age: std::time::Duration) -> Result<usize> {
        match self {
            Store::Local(l) => l.remove_stale_temp_files(keys, min_age).await,
            Store::S3(_) => Ok(0),
        }
    }

    /// Deletes an object; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self {
            Store::Local(l) => l.delete(key).await,
            Store::S3(s) => s.delete(key).await,
        }
    }
}

/// Rejects keys that could escape the store root or are not plain relative paths.
fn check_key(key: &str) -> Result<()> {
    let bad = key.is_empty() || key.starts_with('/') || key.split('/').any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(StorageError::InvalidKey { key: key.to_string() });
    }
    Ok(())
}
