//! Storage errors, each saying what went wrong and what to do about it. A message never repeats
//! its cause: an error with a `source()` leaves it out of its own text, and the caller prints
//! the chain (anyhow's `{:#}`).

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
    /// A URL that is not `s3://bucket[/prefix]` with a valid bucket name.
    #[error("invalid S3 URL '{url}': expected {expected}")]
    InvalidUrl { url: String, expected: &'static str },
    /// A setting (an endpoint URL) that cannot be used, named by where it came from
    /// (`AWS_ENDPOINT_URL_S3`, `endpointurl`, ...).
    #[error("{setting}={value:?}: expected {expected}")]
    InvalidSetting { setting: &'static str, value: String, expected: &'static str },
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
    /// Any other S3 failure (a server error, a broken-off download), after the retries.
    /// `transient` says whether trying again may help (server errors, throttling, broken
    /// connections) or not (a request the server refuses as it is).
    #[error("S3 {op} of '{key}' at {store} failed: {message}")]
    S3 { store: String, op: &'static str, key: String, message: String, transient: bool },
    /// Local file system failure.
    #[error("{op} {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    /// True for failures that a retry may fix (network trouble, server errors).
    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::S3 { transient: true, .. } | StorageError::Unreachable { .. })
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io { op, path: path.into(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_does_not_repeat_its_source() {
        let e = StorageError::io("writing", "/remote/ab/cdef", std::io::Error::other("No space left on device"));
        let source = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default();
        assert_eq!(source, "No space left on device");
        assert_eq!(e.to_string(), "writing /remote/ab/cdef");
    }
}
