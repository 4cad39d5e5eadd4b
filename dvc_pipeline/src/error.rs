//! Pipeline errors: each names the file, line, key or stage involved and what to do next.

use std::path::{Path, PathBuf};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not inside a DVC repository (no .dvc directory in {} or any parent): run `init` first", start.display())]
    NoRepo { start: PathBuf },
    #[error("{}:{line}: YAML syntax error: {message}", file.display())]
    Yaml { file: PathBuf, line: usize, message: String },
    #[error("{}:{line}: '{key}': {message}", file.display())]
    Schema { file: PathBuf, line: usize, key: String, message: String },
    #[error("{}: {message}", file.display())]
    Pipeline { file: PathBuf, message: String },
    #[error("stage '{stage}': dependency '{path}' does not exist and no stage produces it")]
    MissingDep { stage: String, path: String },
    #[error("output '{path}' is declared by both stage '{first}' and stage '{second}'")]
    DuplicateOut { path: String, first: String, second: String },
    #[error("pipeline has a cycle: {}", stages.join(" -> "))]
    Cycle { stages: Vec<String> },
    #[error("unknown stage '{0}': check the name with `dag`")]
    UnknownStage(String),
    #[error("stage '{stage}': command `{cmd}` failed with exit code {code}; dvc.lock keeps the last good state")]
    CommandFailed { stage: String, cmd: String, code: i32 },
    #[error("stage '{stage}': output '{path}' was not created by the command")]
    MissingOut { stage: String, path: String },
    #[error("{}: {message}", file.display())]
    Config { file: PathBuf, message: String },
    #[error("cache object {hash} for '{path}' is missing: run `pull` (or `fetch`) first")]
    MissingObject { path: String, hash: String },
    #[error("{0}")]
    Usage(String),
    #[error("{op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Storage(#[from] object_storage::StorageError),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io { op, path: path.to_path_buf(), source }
    }
}
