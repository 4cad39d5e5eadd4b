//! Pipeline errors: each names the file, line, key or stage involved and what to do next.
//! A variant with a `#[source]` leaves the source out of its message: binaries print the chain
//! (`{:#}`), so each cause is said once.

use std::path::{Path, PathBuf};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not inside a DVC repository (no .dvc directory in {} or any parent): run `init` first", start.display())]
    NoRepo { start: PathBuf },
    #[error("'{}' already exists: this directory is already a DVC repository", dvc_dir.display())]
    AlreadyInitialized { dvc_dir: PathBuf },
    #[error("{}:{line}: YAML syntax error: {message}", file.display())]
    Yaml { file: PathBuf, line: usize, message: String },
    #[error("{}:{line}: '{key}': {message}", file.display())]
    Schema { file: PathBuf, line: usize, key: String, message: String },
    #[error("stage '{stage}': dependency '{path}' does not exist and no stage produces it")]
    MissingDep { stage: String, path: String },
    #[error("output '{path}' is declared by both stage '{first}' and stage '{second}'")]
    DuplicateOut { path: String, first: String, second: String },
    #[error("pipeline has a cycle: {}", stages.join(" -> "))]
    Cycle { stages: Vec<String> },
    #[error("unknown stage '{0}': check the name with `dag`")]
    UnknownStage(String),
    #[error("stage name '{name}' is ambiguous: use one of {}", candidates.join(", "))]
    AmbiguousStage { name: String, candidates: Vec<String> },
    #[error("stage '{stage}': params file '{}' does not exist", file.display())]
    MissingParamsFile { stage: String, file: PathBuf },
    #[error("stage '{stage}': parameter '{key}' not found in {}", file.display())]
    MissingParam { stage: String, key: String, file: PathBuf },
    #[error("stage '{stage}': command `{cmd}` failed with exit code {code}; dvc.lock keeps the last good state")]
    CommandFailed { stage: String, cmd: String, code: i32 },
    #[error("stage '{stage}': output '{path}' was not created by the command")]
    MissingOut { stage: String, path: String },
    #[error("{}: a .dvcignore may not be inside a tracked directory ({}); move its patterns to a .dvcignore above it", file.display(), dir.display())]
    IgnoreFileInside { file: PathBuf, dir: PathBuf },
    #[error("{}: invalid pattern; fix it (gitignore syntax)", file.display())]
    BadIgnorePattern {
        file: PathBuf,
        #[source]
        source: ignore::Error,
    },
    #[error("'{}' is outside the repository", path.display())]
    OutsideRepo { path: PathBuf },
    #[error("'{}' does not exist", path.display())]
    PathMissing { path: PathBuf },
    #[error("'{path}' is an output of stage '{stage}': it is tracked by dvc.lock already")]
    AlreadyTracked { path: String, stage: String },
    #[error("{}: {message}", file.display())]
    Config { file: PathBuf, message: String },
    #[error("no remote given and no default remote set: use `-r NAME` or `remote add -d NAME URL`")]
    NoDefaultRemote,
    #[error("remote '{name}' is not configured (known: {}): add it with `remote add {name} URL`", known.join(", "))]
    RemoteNotConfigured { name: String, known: Vec<String> },
    #[error("remote '{name}' does not exist: add it first with `remote add {name} URL`")]
    UnknownRemote { name: String },
    #[error("remote '{name}' already exists: use `remote modify` or `remote add -f`")]
    RemoteExists { name: String },
    #[error("`remote modify {name} {key}` needs a value (or --unset)")]
    MissingValue { name: String, key: String },
    #[error("remote '{name}': '{scheme}://' remotes are not supported; use s3:// or a local directory")]
    UnsupportedRemote { name: String, scheme: String },
    #[error("cache object {hash} for '{path}' is missing: run `pull` (or `fetch`) first")]
    MissingObject { path: String, hash: String },
    #[error("{} output(s) could not be restored because their cache objects are missing: {}; run `pull` first", paths.len(), paths.join(", "))]
    OutputsNotRestored { paths: Vec<String> },
    #[error("object '{key}' from {location} is corrupt ({reason}); it was not stored")]
    CorruptObject { key: String, location: String, reason: String },
    #[error("{file}: invalid JSON at line {line}")]
    BadMetrics {
        file: String,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("'{}' has no {file} (nor set.json): it does not look like a model directory (train one first)", dir.display())]
    NotAModel { dir: PathBuf, file: &'static str },
    #[error("a model is already published at {location}: publish a new version, or pass --force to replace it")]
    AlreadyPublished { location: String },
    #[error("'{url}': {message}")]
    BadUrl { url: String, message: String },
    #[error(
        "stage '{stage}': dependency '{url}' does not exist: check the URL, and that the object (or some object under the prefix) is in the bucket"
    )]
    MissingUrl { stage: String, url: String },
    #[error("failed to import '{url}': it does not exist (no such object, and no object under that prefix)")]
    MissingImportSource { url: String },
    #[error("'{}' is not an import (no dependency to update): `update` takes a .dvc file written by `import-url`", file.display())]
    NotAnImport { file: PathBuf },
    #[error("'{}' exists already: remove it, or pass --force to replace it", path.display())]
    ImportTargetExists { path: PathBuf },
    #[error("could not start the async runtime for S3 requests")]
    Runtime(#[source] std::io::Error),
    #[error("{op} {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] object_storage::StorageError),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io { op, path: path.to_path_buf(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a variant carries a source. Exhaustive on purpose: a new variant must be sorted
    /// here, and one with a source gets a sample in the test below.
    fn has_source(e: &Error) -> bool {
        match e {
            Error::BadIgnorePattern { .. }
            | Error::BadMetrics { .. }
            | Error::Io { .. }
            | Error::Runtime(_)
            | Error::Storage(_) => true,
            Error::NoRepo { .. }
            | Error::AlreadyInitialized { .. }
            | Error::Yaml { .. }
            | Error::Schema { .. }
            | Error::MissingDep { .. }
            | Error::DuplicateOut { .. }
            | Error::Cycle { .. }
            | Error::UnknownStage(_)
            | Error::AmbiguousStage { .. }
            | Error::MissingParamsFile { .. }
            | Error::MissingParam { .. }
            | Error::CommandFailed { .. }
            | Error::MissingOut { .. }
            | Error::IgnoreFileInside { .. }
            | Error::OutsideRepo { .. }
            | Error::PathMissing { .. }
            | Error::AlreadyTracked { .. }
            | Error::Config { .. }
            | Error::NoDefaultRemote
            | Error::RemoteNotConfigured { .. }
            | Error::UnknownRemote { .. }
            | Error::RemoteExists { .. }
            | Error::MissingValue { .. }
            | Error::UnsupportedRemote { .. }
            | Error::MissingObject { .. }
            | Error::OutputsNotRestored { .. }
            | Error::CorruptObject { .. }
            | Error::NotAModel { .. }
            | Error::AlreadyPublished { .. }
            | Error::BadUrl { .. }
            | Error::MissingUrl { .. }
            | Error::MissingImportSource { .. }
            | Error::NotAnImport { .. }
            | Error::ImportTargetExists { .. } => false,
        }
    }

    #[test]
    fn no_message_contains_its_sources_message() {
        let io = || std::io::Error::other("disk on fire");
        let bad_glob = ignore::gitignore::GitignoreBuilder::new("/r").add_line(None, "a{b").map(|_| ()).unwrap_err();
        let bad_json = serde_json::from_str::<serde_json::Value>("{\"auc\": ").unwrap_err();
        let samples = [
            Error::io("reading", Path::new("/r/data.csv"), io()),
            Error::BadIgnorePattern { file: "/r/.dvcignore".into(), source: bad_glob },
            Error::BadMetrics { file: "metrics.json".into(), line: 1, source: bad_json },
            Error::Storage(object_storage::StorageError::Io { op: "writing", path: "/c/x".into(), source: io() }),
            Error::Runtime(io()),
        ];
        for e in &samples {
            assert!(has_source(e), "{e:?}");
            let message = e.to_string();
            let mut cause = std::error::Error::source(e);
            assert!(cause.is_some(), "{e:?} has no source");
            while let Some(c) = cause {
                let text = c.to_string();
                assert!(!text.is_empty() && !message.contains(&text), "'{message}' repeats its cause '{text}'");
                cause = c.source();
            }
        }
    }
}
