//! What can go wrong in the registry. Every message names the object (registry location and
//! key) or the argument at fault; storage failures keep their own message as the cause.

use std::path::PathBuf;

/// A registry failure.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry root is neither `s3://bucket/prefix` nor a directory path.
    #[error("invalid registry root '{root}': {reason}")]
    InvalidRoot { root: String, reason: String },
    /// A model name, alias or version that cannot be used (empty, or with `@`, `:` or `/`).
    #[error("invalid {kind} '{value}': {reason}")]
    InvalidName { kind: &'static str, value: String, reason: &'static str },
    /// A reference that is not `NAME`, `NAME@ALIAS` or `NAME:VERSION`.
    #[error("invalid model reference '{input}': {reason} (expected NAME, NAME@ALIAS or NAME:VERSION)")]
    InvalidRef { input: String, reason: String },
    /// The version has no card: it does not exist (or is not completely published).
    #[error("version '{version}' of model '{name}' not found in registry {registry} (no {key})")]
    VersionNotFound { registry: String, name: String, version: String, key: String },
    /// The alias is not set.
    #[error("alias '{alias}' of model '{name}' is not set in registry {registry} (no {key})")]
    AliasNotFound { registry: String, name: String, alias: String, key: String },
    /// The alias names a version that does not exist.
    #[error("alias object {key} in registry {registry} names version '{version}', which does not exist")]
    AliasTargetMissing { registry: String, key: String, version: String },
    /// A card or alias object that is not what the registry writes.
    #[error("corrupt registry object {key} in {registry}: {message}")]
    Corrupt { registry: String, key: String, message: String },
    /// Publishing would overwrite an existing version.
    #[error("version '{version}' of model '{name}' already exists in registry {registry}; versions are immutable")]
    VersionExists { registry: String, name: String, version: String },
    /// A downloaded file does not have the checksum its card records.
    #[error(
        "checksum mismatch for {key} in registry {registry}: md5 is {found}, card.json records {expected}; \
         the object was changed or truncated"
    )]
    Checksum { registry: String, key: String, expected: String, found: String },
    /// A single model was needed and the version is a model set.
    #[error(
        "version '{version}' of model '{name}' in registry {registry} is a model set (one model per {group_by}); {needed}"
    )]
    IsModelSet { registry: String, name: String, version: String, group_by: String, needed: &'static str },
    /// Rollback with no earlier version left to go back to.
    #[error("alias '{alias}' of model '{name}' in registry {registry} has no earlier version to roll back to")]
    NoHistory { registry: String, name: String, alias: String },
    /// The model directory to publish, or a downloaded model, is not a loadable model.
    #[error("model {}", path.display())]
    Model {
        path: PathBuf,
        #[source]
        source: model_core::ArtifactError,
    },
    /// Local file system failure (reading the model directory, writing a pulled model).
    #[error("{op} {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The store failed (its message names the store and key).
    #[error(transparent)]
    Storage(#[from] object_storage::StorageError),
}
