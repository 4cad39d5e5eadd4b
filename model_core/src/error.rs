//! Error types for everything a user can get wrong: data files, request bodies and model
//! directories. Each variant names where the problem is (file, line, column) and what was expected.
//! A message never repeats its cause: an error with a `source()` leaves it out of its own text,
//! and the caller prints the chain (anyhow's `{:#}`).

use std::path::PathBuf;

/// A problem with tabular input (a CSV file, a request body, JSON rows).
///
/// `input` is what the user would call the input: a file path, or "request body".
/// `line` is 1-based and counts the header as line 1, as an editor shows it.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum DataError {
    #[error("{input}: cannot read: {message}")]
    Io { input: String, message: String },
    #[error("{input}: the file is empty; expected a header line naming the columns, then data rows")]
    Empty { input: String },
    #[error("{input}: the header has no data rows after it; expected at least {needed} row(s)")]
    NoRows { input: String, needed: usize },
    #[error("{input}: line {line}: column {column:?} appears twice in the header; column names must be unique")]
    DuplicateColumn { input: String, line: u64, column: String },
    #[error("{input}: line {line}: column {column:?}: {value:?} is not a number")]
    NotNumeric { input: String, line: u64, column: String, value: String },
    #[error(
        "{input}: line {line}: column {column:?}: {value:?} is not a finite number (NaN and infinity are not allowed)"
    )]
    NotFinite { input: String, line: u64, column: String, value: String },
    #[error("{input}: line {line}: the row has {found} field(s) but the header has {expected}")]
    Ragged { input: String, line: u64, expected: usize, found: usize },
    #[error("{input}: missing column(s) {missing:?}; the model needs {required:?}, the input has {available:?}")]
    MissingColumns { input: String, missing: Vec<String>, required: Vec<String>, available: Vec<String> },
    #[error("{input}: {rows} row(s) is fewer than one window of {window}; send at least {window} rows")]
    TooFewRows { input: String, rows: usize, window: usize },
    #[error("{input}: row {row}: expected {expected} value(s) (one per feature {features:?}), found {found}")]
    WrongRowLength { input: String, row: usize, expected: usize, found: usize, features: Vec<String> },
    #[error("{input}: column {column:?} has {found} value(s) but column {first:?} has {expected}")]
    UnequalColumns { input: String, column: String, first: String, expected: usize, found: usize },
    #[error("{input}: no feature columns left after ignoring {ignored:?}; the input has {available:?}")]
    NoFeatures { input: String, ignored: Vec<String>, available: Vec<String> },
    #[error("{input}: no column {column:?} to group rows by (data.group_by); the input has {available:?}")]
    MissingGroupColumn { input: String, column: String, available: Vec<String> },
    #[error("{input}: line {line}: column {column:?} is empty; every row needs its group")]
    EmptyGroup { input: String, line: u64, column: String },
    #[error(
        "{input}: {column} {group:?} (first at data row {row}) has no model in this set and the set has no fallback \
         model; its groups are {known:?}"
    )]
    UnknownGroup { input: String, column: String, group: String, row: usize, known: Vec<String> },
    #[error("{input}: {message}")]
    Invalid { input: String, message: String },
}

impl DataError {
    /// The input the error is about (file path or "request body").
    pub fn input(&self) -> &str {
        match self {
            DataError::Io { input, .. }
            | DataError::Empty { input }
            | DataError::NoRows { input, .. }
            | DataError::DuplicateColumn { input, .. }
            | DataError::NotNumeric { input, .. }
            | DataError::NotFinite { input, .. }
            | DataError::Ragged { input, .. }
            | DataError::MissingColumns { input, .. }
            | DataError::TooFewRows { input, .. }
            | DataError::WrongRowLength { input, .. }
            | DataError::UnequalColumns { input, .. }
            | DataError::NoFeatures { input, .. }
            | DataError::MissingGroupColumn { input, .. }
            | DataError::EmptyGroup { input, .. }
            | DataError::UnknownGroup { input, .. }
            | DataError::Invalid { input, .. } => input,
        }
    }

    /// True when the bytes could not be read as CSV at all (as opposed to well-formed CSV whose
    /// content does not fit the model). Serving maps the first to 400 and the second to 422.
    pub fn is_unparsable(&self) -> bool {
        matches!(self, DataError::Io { .. } | DataError::Empty { .. } | DataError::Ragged { .. })
    }
}

/// A problem loading or saving a model directory.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("{dir}: not a model directory: {file} is missing (train one with `model-creation train --out {dir}`)")]
    MissingFile { dir: PathBuf, file: &'static str },
    #[error("{path}: cannot read or write")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: metadata is not valid JSON for a model: {message}")]
    BadMetadata { path: PathBuf, message: String },
    #[error(
        "{path}: model format version {found} is not supported by this build (it reads versions {oldest} to {supported}); retrain the model or use a matching release"
    )]
    UnsupportedVersion { path: PathBuf, found: u32, oldest: u32, supported: u32 },
    #[error("{path}: weights are corrupt: {message}")]
    CorruptWeights { path: PathBuf, message: String },
    #[error(
        "{path}: tensor {tensor:?} has shape {found:?}, but the architecture in metadata.json expects {expected:?}"
    )]
    ShapeMismatch { path: PathBuf, tensor: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("{path}: inconsistent model: {message}")]
    Inconsistent { path: PathBuf, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_does_not_repeat_its_source() {
        let io = std::io::Error::new(std::io::ErrorKind::NotADirectory, "Not a directory (os error 20)");
        let e = ArtifactError::Io { path: "m/metadata.json".into(), source: io };
        let source = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default();
        assert_eq!(e.to_string(), "m/metadata.json: cannot read or write");
        assert!(!e.to_string().contains(&source), "{e}");
    }
}
