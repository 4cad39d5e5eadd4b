//! Storage errors, each saying what went wrong and what to do about it.

use std::path::PathBuf;

/// What can go wrong talking to a store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The object does not exist.
    #[error("object '{key}' not found in {store}")]
    NotFound { store: String, key: String },
    /// A key that is empty, absolute or contains `.`/`..` components.
    #[error("invalid object key '{key}': keys are relative '/'-separated paths without '.' or '..'")]
    InvalidKey { key: String },
    /// A URL that is not `s3://bucket[/prefix]`.
    #[error("invalid S3 URL '{url}': expected s3://bucket[/prefix]")]
    InvalidUrl { url: String },
    /// No credentials were configured.
    #[error(
        "no S3 credentials for {store}: set access_key_id and secret_access_key \
         (e.g. `remote modify --local <remote> secret_access_key ...`) or the \
         AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY environment variables"
    )]
    MissingCredentials { store: String },
    /// The server rejected the credentials (wrong secret key, unknown access key, no permission).
    #[error(
        "S3 server at {store} rejected the credentials ({code}) while accessing '{key}': \
         check access_key_id / secret_access_key (config.local or AWS_* environment variables) \
         and that this key may use the bucket"
    )]
    Credentials { store: String, key: String, code: String },
    /// The bucket does not exist.
    #[error("bucket of {store} does not exist: create it first or fix the remote URL")]
    NoSuchBucket { store: String },
    /// The object is larger than the caller accepts ([`crate::Store::get_limited`]); nothing
    /// was downloaded.
    #[error("object '{key}' in {store} is {size} bytes, over the limit of {limit} bytes; it was not downloaded")]
    TooLarge { store: String, key: String, size: u64, limit: u64 },
    /// A download's check refused the bytes (e.g. a hash mismatch); nothing was stored.
    #[error("object '{key}' from {store} was refused: {reason}; it was not stored")]
    Rejected { store: String, key: String, reason: String },
    /// No answer from the server: connection refused, connect timeout, DNS failure.
    #[error(
        "S3 server at {store} did not answer ({message}) during {op} of '{key}': \
         check that the endpoint URL is right and the server is up and reachable"
    )]
    Unreachable { store: String, op: &'static str, key: String, message: String },
    /// Any other S3 failure (network, server error), after the SDK's own retries.
    #[error("S3 {op} of '{key}' at {store} failed: {message}")]
    S3 { store: String, op: &'static str, key: String, message: String },
    /// Local file system failure.
    #[error("{op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
}

impl StorageError {
    /// True for failures that a retry may fix (network trouble, server errors).
    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::S3 { .. } | StorageError::Unreachable { .. })
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io { op, path: path.into(), source }
    }
}
