//! What a collection batch holds besides the data: one metadata JSON per collected file and the
//! batch manifest, written last, that marks the batch complete; and the CSV check a file must
//! pass to be collected.

use serde::{Deserialize, Serialize};

/// Names a column holding the time of a row (compared case-insensitively), first match wins.
const TIME_COLUMNS: [&str; 4] = ["timestamp", "datetime", "time", "date"];
/// The manifest's name in a batch directory.
pub const MANIFEST: &str = "manifest.json";
/// Suffix of a file's metadata, next to it: `<file>.meta.json`.
pub const META_SUFFIX: &str = ".meta.json";

/// `<file>.meta.json`: where a collected file came from and what it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    /// Its name in the batch directory.
    pub file: String,
    /// Where it was collected from (a path, an `s3://` URL, `simulator:<name>`).
    pub source: String,
    pub md5: String,
    pub bytes: u64,
    /// Data rows (the header not counted).
    pub rows: u64,
    pub columns: Vec<String>,
    /// First and last time of its time column, when it has one.
    pub time_range: Option<TimeRange>,
    /// RFC 3339, UTC.
    pub collected_at: String,
    pub collector_version: String,
}

/// The span of a file's time column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeRange {
    pub column: String,
    pub start: String,
    pub end: String,
}

/// A source file that was not collected because it is not a valid CSV.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub source: String,
    pub error: String,
}

/// `manifest.json`, written after every file of the batch and its metadata: a batch without one
/// is incomplete (the next run completes it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub week: String,
    pub source: String,
    pub files: Vec<FileMeta>,
    pub skipped: Vec<Skipped>,
    /// When this manifest was written (RFC 3339, UTC).
    pub written_at: String,
    pub collector_version: String,
}

impl Manifest {
    /// Whether two manifests list the same batch (times and versions aside): a rerun that finds
    /// nothing new leaves the bucket untouched.
    pub fn same_batch(&self, other: &Manifest) -> bool {
        let ids = |m: &Manifest| m.files.iter().map(|f| (f.file.clone(), f.md5.clone())).collect::<Vec<_>>();
        self.week == other.week && ids(self) == ids(other) && self.skipped == other.skipped
    }
}

/// What the CSV check found in a valid file.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvShape {
    pub rows: u64,
    pub columns: Vec<String>,
    pub time_range: Option<TimeRange>,
}

/// Checks that `bytes` are a CSV collection accepts: UTF-8, a header of distinct non-empty
/// names, at least one data row, every row as long as the header. The error says where it is not.
pub fn inspect_csv(bytes: &[u8]) -> Result<CsvShape, String> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(bytes);
    let header = reader.headers().map_err(|e| csv_message(&e))?.clone();
    let columns: Vec<String> = header.iter().map(|c| c.trim().to_string()).collect();
    if columns.is_empty() || columns.iter().all(String::is_empty) {
        return Err("no header row".into());
    }
    if let Some(i) = columns.iter().position(String::is_empty) {
        return Err(format!("header column {} has no name", i + 1));
    }
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].contains(c) {
            return Err(format!("header names column '{c}' twice"));
        }
    }
    let time_col = TIME_COLUMNS.iter().find_map(|t| columns.iter().position(|c| c.eq_ignore_ascii_case(t)));
    let mut rows = 0u64;
    let mut span: Option<(String, String)> = None;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_message(&e)),
        }
        rows += 1;
        if let Some(value) = time_col.and_then(|j| record.get(j)).map(str::trim) {
            span = Some(match span {
                None => (value.to_string(), value.to_string()),
                Some((lo, hi)) => (
                    if earlier(value, &lo) { value.to_string() } else { lo },
                    if earlier(&hi, value) { value.to_string() } else { hi },
                ),
            });
        }
    }
    if rows == 0 {
        return Err("a header but no data rows".into());
    }
    let time_range = time_col.zip(span).map(|(j, (start, end))| TimeRange { column: columns[j].clone(), start, end });
    Ok(CsvShape { rows, columns, time_range })
}

/// Time order: numbers (epoch seconds) as numbers, anything else (ISO 8601) as text.
fn earlier(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x < y,
        _ => a < b,
    }
}

/// A csv error as "line N: what".
fn csv_message(e: &csv::Error) -> String {
    let line = e.position().map(|p| format!("line {}: ", p.line())).unwrap_or_default();
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{line}{len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => format!("{line}not UTF-8 text"),
        _ => format!("{line}{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_csv_gives_its_shape_and_time_span() {
        let shape = inspect_csv(b"timestamp,a,b\n2026-01-02T00:00:00Z,1,2\n2026-01-01T00:00:00Z,3,4\n").expect("valid");
        assert_eq!(shape.rows, 2);
        assert_eq!(shape.columns, ["timestamp", "a", "b"]);
        let span = shape.time_range.expect("a time column");
        assert_eq!((span.start.as_str(), span.end.as_str()), ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"));
        assert_eq!(inspect_csv(b"t,x\n10,1\n9,2\n").expect("valid").time_range, None);
        let numeric = inspect_csv(b"time,x\n10,1\n9,2\n").expect("valid").time_range.expect("span");
        assert_eq!((numeric.start.as_str(), numeric.end.as_str()), ("9", "10"));
    }

    #[test]
    fn an_invalid_csv_is_refused_with_where_and_why() {
        assert_eq!(inspect_csv(b"a,b\n1,2\n3\n").unwrap_err(), "line 3: 1 fields where the header has 2");
        assert_eq!(inspect_csv(b"a,b\n").unwrap_err(), "a header but no data rows");
        assert_eq!(inspect_csv(b"").unwrap_err(), "no header row");
        assert_eq!(inspect_csv(b"a,a\n1,2\n").unwrap_err(), "header names column 'a' twice");
        assert!(inspect_csv(b"a,b\n1,\xff\n").unwrap_err().contains("not UTF-8"));
    }
}
