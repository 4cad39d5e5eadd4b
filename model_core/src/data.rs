//! Tabular input: CSV (from a file or any reader) and JSON-shaped rows/columns, read into a
//! dense numeric [`Frame`] of exactly the columns the caller asked for.
//!
//! Only the selected columns are parsed, so a timestamp or label column never has to be numeric.

mod decimal;
mod plain;

pub use decimal::parse_f64;
pub use plain::PlainRows;

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::path::Path;

use crate::error::DataError;

/// Row-major numeric table: `values[row * columns.len() + col]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub columns: Vec<String>,
    pub n_rows: usize,
    pub values: Vec<f64>,
}

impl Frame {
    pub fn n_cols(&self) -> usize {
        self.columns.len()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        let d = self.n_cols();
        &self.values[i * d..(i + 1) * d]
    }

    /// One column as a vector (for plots).
    pub fn column(&self, j: usize) -> Vec<f64> {
        (0..self.n_rows).map(|i| self.values[i * self.n_cols() + j]).collect()
    }

    /// Rows already in the order of `features` (the JSON `{"rows": [[...]]}` form).
    pub fn from_rows(rows: &[Vec<f64>], features: &[String], source: &str) -> Result<Frame, DataError> {
        let d = features.len();
        let mut values = Vec::with_capacity(rows.len() * d);
        for (i, row) in rows.iter().enumerate() {
            if row.len() != d {
                return Err(DataError::WrongRowLength {
                    input: source.to_string(),
                    row: i,
                    expected: d,
                    found: row.len(),
                    features: features.to_vec(),
                });
            }
            for (j, v) in row.iter().enumerate() {
                if !v.is_finite() {
                    return Err(DataError::NotFinite {
                        input: source.to_string(),
                        line: i as u64,
                        column: features[j].clone(),
                        value: v.to_string(),
                    });
                }
            }
            values.extend_from_slice(row);
        }
        Ok(Frame { columns: features.to_vec(), n_rows: rows.len(), values })
    }

    /// Named columns (the JSON `{"columns": {"name": [...]}}` form); extra columns are ignored.
    pub fn from_columns(
        columns: &HashMap<String, Vec<f64>>,
        features: &[String],
        source: &str,
    ) -> Result<Frame, DataError> {
        let missing: Vec<String> = features.iter().filter(|f| !columns.contains_key(*f)).cloned().collect();
        if !missing.is_empty() {
            let mut available: Vec<String> = columns.keys().cloned().collect();
            available.sort();
            return Err(DataError::MissingColumns {
                input: source.to_string(),
                missing,
                required: features.to_vec(),
                available,
            });
        }
        let cols: Vec<&Vec<f64>> = features.iter().filter_map(|f| columns.get(f)).collect();
        let n_rows = cols.first().map_or(0, |c| c.len());
        for (f, c) in features.iter().zip(&cols) {
            if c.len() != n_rows {
                return Err(DataError::UnequalColumns {
                    input: source.to_string(),
                    column: f.clone(),
                    first: features[0].clone(),
                    expected: n_rows,
                    found: c.len(),
                });
            }
        }
        let d = features.len();
        let mut values = vec![0.0; n_rows * d];
        for (j, c) in cols.iter().enumerate() {
            for (i, v) in c.iter().enumerate() {
                if !v.is_finite() {
                    return Err(DataError::NotFinite {
                        input: source.to_string(),
                        line: i as u64,
                        column: features[j].clone(),
                        value: v.to_string(),
                    });
                }
                values[i * d + j] = *v;
            }
        }
        Ok(Frame { columns: features.to_vec(), n_rows, values })
    }
}

/// Which columns of a CSV become features.
#[derive(Debug, Clone, Copy)]
pub enum Columns<'a> {
    /// Exactly these, in this order (a trained model's features). Missing ones are an error;
    /// any other column is ignored.
    Named(&'a [String]),
    /// Every column except these names (compared case-insensitively), in file order. Used when
    /// training discovers its features.
    AllExcept(&'a [String]),
}

/// Reads a CSV file; errors name the file.
pub fn read_csv_file(path: &Path, columns: Columns<'_>) -> Result<Frame, DataError> {
    let source = path.display().to_string();
    let file =
        std::fs::File::open(path).map_err(|e| DataError::Io { input: source.clone(), message: e.to_string() })?;
    read_csv(std::io::BufReader::with_capacity(1 << 16, file), &source, columns)
}

/// Reads CSV with a header held in memory (a request body): the same frame and the same errors
/// as [`read_csv`], faster on CSV without quotes (see `plain`).
pub fn read_csv_bytes(bytes: &[u8], source: &str, columns: Columns<'_>) -> Result<Frame, DataError> {
    match plain::read(bytes, columns) {
        Some(frame) => Ok(frame),
        None => read_csv(bytes, source, columns),
    }
}

/// The fast path of [`read_csv_bytes`] alone: `Some` only where it gives exactly the frame
/// [`read_csv`] gives, `None` where it leaves the input to that full reader (quotes, a ragged
/// row, a bad cell, a header problem). Public so the fuzz targets and property tests can check
/// that the two paths agree; callers want [`read_csv_bytes`].
pub fn read_csv_fast_path(bytes: &[u8], columns: Columns<'_>) -> Option<Frame> {
    plain::read(bytes, columns)
}

/// Reads CSV with a header from any reader. `source` names the input in errors.
pub fn read_csv<R: Read>(reader: R, source: &str, columns: Columns<'_>) -> Result<Frame, DataError> {
    let mut rows = CsvRows::new(reader, source, columns)?;
    let mut values = Vec::new();
    let n_rows = rows.read(usize::MAX, &mut values)?;
    if n_rows == 0 {
        return Err(DataError::NoRows { input: source.to_string(), needed: 1 });
    }
    Ok(Frame { columns: rows.columns, n_rows, values })
}

/// A CSV read a number of rows at a time, for inputs too large to hold (batch scoring): the
/// values and the errors, line numbers included, are exactly [`read_csv`]'s.
pub struct CsvRows<R: Read> {
    rdr: csv::Reader<Lines<R>>,
    source: String,
    /// Header length (a lone blank field is a blank line only when the header has more).
    width: usize,
    selected: Vec<usize>,
    columns: Vec<String>,
    record: csv::ByteRecord,
    /// The group column's index and the groups met so far (see [`CsvRows::grouped`]).
    group: Option<(usize, Groups)>,
}

/// The group of each row read: `codes[i]` is the index of row `i`'s group in `names`, which
/// lists the groups in the order they first appear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    /// The column the groups come from.
    pub column: String,
    pub names: Vec<String>,
    pub codes: Vec<u32>,
    by_name: HashMap<String, u32>,
}

impl Groups {
    fn new(column: &str) -> Self {
        Groups { column: column.to_string(), ..Groups::default() }
    }

    /// The groups of rows given one value per row (a JSON body's `groups`).
    pub fn from_values<S: AsRef<str>>(column: &str, values: &[S]) -> Self {
        let mut groups = Groups::new(column);
        for value in values {
            groups.push(value.as_ref());
        }
        groups
    }

    fn push(&mut self, name: &str) {
        let code = match self.by_name.get(name) {
            Some(&code) => code,
            None => {
                let code = self.names.len() as u32;
                self.names.push(name.to_string());
                self.by_name.insert(name.to_string(), code);
                code
            }
        };
        self.codes.push(code);
    }
}

impl<R: Read> CsvRows<R> {
    /// Reads and checks the header.
    pub fn new(reader: R, source: &str, columns: Columns<'_>) -> Result<Self, DataError> {
        // Only the header is trimmed by csv: trimming every record there copies it, and only the
        // selected cells need it (trimmed below exactly as csv's Trim::All would).
        let mut rdr =
            csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::Headers).from_reader(Lines::new(reader));
        let header = match rdr.byte_headers() {
            Ok(header) => header.clone(),
            Err(e) => return Err(csv_error(e, source, rdr.get_mut())),
        };
        let header_line = rdr.get_mut().line_at(header.position().map_or(0, csv::Position::byte));
        let names = header_names(header.iter());
        let (selected, columns) = select_columns(&names, columns, source, header_line)?;
        Ok(CsvRows {
            rdr,
            source: source.to_string(),
            width: names.len(),
            selected,
            columns,
            record: csv::ByteRecord::new(),
            group: None,
        })
    }

    /// Also reads each row's group from the text column `column` (which `columns` should leave
    /// out), in the same pass: [`CsvRows::groups`]. A missing column is an error naming it; an
    /// empty cell is an error naming its line.
    pub fn grouped(reader: R, source: &str, columns: Columns<'_>, column: &str) -> Result<Self, DataError> {
        let mut rows = CsvRows::new(reader, source, columns)?;
        let header = match rows.rdr.byte_headers() {
            Ok(header) => header.clone(),
            Err(e) => return Err(csv_error(e, source, rows.rdr.get_mut())),
        };
        let names = header_names(header.iter());
        let Some(index) = names.iter().position(|n| n == column) else {
            return Err(DataError::MissingGroupColumn {
                input: source.to_string(),
                column: column.to_string(),
                available: names,
            });
        };
        rows.group = Some((index, Groups::new(column)));
        Ok(rows)
    }

    /// The groups of the rows read so far (`None` unless made by [`CsvRows::grouped`]).
    pub fn groups(&self) -> Option<&Groups> {
        self.group.as_ref().map(|(_, g)| g)
    }

    /// Moves the group codes of the rows read since the last call into `codes` (replacing what
    /// it held), so a long input's codes do not pile up; [`CsvRows::groups`] keeps the names.
    pub fn take_group_codes(&mut self, codes: &mut Vec<u32>) {
        codes.clear();
        if let Some((_, groups)) = &mut self.group {
            codes.append(&mut groups.codes);
        }
    }

    /// Ends the reading, giving the rows' groups.
    pub fn into_groups(self) -> Option<Groups> {
        self.group.map(|(_, g)| g)
    }

    /// The columns read, in the order their values come.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Appends up to `max_rows` rows to `values` (row-major, [`CsvRows::columns`] wide);
    /// returns how many (0: the end of the input).
    pub fn read(&mut self, max_rows: usize, values: &mut Vec<f64>) -> Result<usize, DataError> {
        let mut n_rows = 0usize;
        while n_rows < max_rows {
            match self.rdr.read_byte_record(&mut self.record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(csv_error(e, &self.source, self.rdr.get_mut())),
            }
            // Asked for every record, so the line breaks `Lines` holds stay the few read ahead.
            let line = self.rdr.get_mut().line_at(self.record.position().map_or(0, csv::Position::byte));
            // A blank trailing line reads as one empty field; skip it rather than call it ragged.
            if self.record.len() == 1 && self.record[0].trim_ascii().is_empty() && self.width > 1 {
                continue;
            }
            for (&col, name) in self.selected.iter().zip(&self.columns) {
                let raw = self.record[col].trim_ascii();
                let bad = || String::from_utf8_lossy(raw).into_owned();
                let v = decimal::parse_f64(raw).ok_or_else(|| DataError::NotNumeric {
                    input: self.source.clone(),
                    line,
                    column: name.clone(),
                    value: bad(),
                })?;
                if !v.is_finite() {
                    return Err(DataError::NotFinite {
                        input: self.source.clone(),
                        line,
                        column: name.clone(),
                        value: bad(),
                    });
                }
                values.push(v);
            }
            if let Some((index, groups)) = &mut self.group {
                let cell = self.record.get(*index).map(<[u8]>::trim_ascii).unwrap_or_default();
                if cell.is_empty() {
                    return Err(DataError::EmptyGroup {
                        input: self.source.clone(),
                        line,
                        column: groups.column.clone(),
                    });
                }
                groups.push(&String::from_utf8_lossy(cell));
            }
            n_rows += 1;
        }
        Ok(n_rows)
    }
}

/// Reads a CSV file with each row's group (see [`CsvRows::grouped`]); errors name the file.
pub fn read_csv_grouped_file(path: &Path, columns: Columns<'_>, group: &str) -> Result<(Frame, Groups), DataError> {
    let source = path.display().to_string();
    let file =
        std::fs::File::open(path).map_err(|e| DataError::Io { input: source.clone(), message: e.to_string() })?;
    read_csv_grouped(std::io::BufReader::with_capacity(1 << 16, file), &source, columns, group)
}

/// Reads a whole CSV with each row's group (see [`CsvRows::grouped`]); errors name `source`.
pub fn read_csv_grouped<R: Read>(
    reader: R,
    source: &str,
    columns: Columns<'_>,
    group: &str,
) -> Result<(Frame, Groups), DataError> {
    let mut rows = CsvRows::grouped(reader, source, columns, group)?;
    let mut values = Vec::new();
    let n_rows = rows.read(usize::MAX, &mut values)?;
    if n_rows == 0 {
        return Err(DataError::NoRows { input: source.to_string(), needed: 1 });
    }
    let columns = rows.columns.clone();
    Ok((Frame { columns, n_rows, values }, rows.into_groups().unwrap_or_default()))
}

/// The reader under csv, numbering lines as an editor does: `\n`, `\r\n` and a lone `\r` each
/// end one line. csv's own `Position::line` counts `\n` bytes at the point a record's reading
/// began, which is one line early in CRLF files (the record before ended at its `\r`), never
/// moves in CR-only files, and misses the empty lines skipped before a record.
struct Lines<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// Whether the last byte read was `\r` (a `\n` right after it ends no further line).
    after_cr: bool,
    /// Line-break bytes read and not yet passed by [`Lines::line_at`]: offset, and whether the
    /// byte ends a line (false for the `\n` of `\r\n`). Only what csv has read ahead of the
    /// record it returned, as every record is asked for.
    pending: VecDeque<(u64, bool)>,
    /// Lines ended before the last position asked for.
    ended: u64,
}

impl<R> Lines<R> {
    fn new(inner: R) -> Self {
        Lines { inner, offset: 0, after_cr: false, pending: VecDeque::new(), ended: 0 }
    }

    /// The 1-based line of the first byte at or after `byte` that is not a line break: where a
    /// record whose reading began at `byte` shows in an editor (csv's record positions point
    /// before the empty lines it skips, and at the `\n` of a `\r\n`). Positions must come in
    /// increasing order, and csv must have read past them (it has, once it returns the record).
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut at = byte;
        while let Some(&(offset, ends_line)) = self.pending.front() {
            if offset > at {
                break;
            }
            if offset == at {
                at += 1; // a line break where the record would begin: it begins later
            }
            self.ended += u64::from(ends_line);
            self.pending.pop_front();
        }
        self.ended + 1
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = &buf[..n];
        for i in memchr::memchr2_iter(b'\n', b'\r', read) {
            let after_cr = if i == 0 { self.after_cr } else { read[i - 1] == b'\r' };
            self.pending.push_back((self.offset + i as u64, !(read[i] == b'\n' && after_cr)));
        }
        if let Some(&last) = read.last() {
            self.after_cr = last == b'\r';
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Header cells as column names, trimmed like csv's `Trim::Headers`.
fn header_names<'a>(cells: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    cells.map(|h| String::from_utf8_lossy(h.trim_ascii()).into_owned()).collect()
}

/// Checks the header and picks the columns that become features: their indices in the header
/// and their names, in frame order.
fn select_columns(
    names: &[String],
    columns: Columns<'_>,
    source: &str,
    header_line: u64,
) -> Result<(Vec<usize>, Vec<String>), DataError> {
    let src = || source.to_string();
    if names.is_empty() || (names.len() == 1 && names[0].is_empty()) {
        return Err(DataError::Empty { input: src() });
    }
    let mut seen = HashMap::new();
    for name in names {
        if seen.insert(name.as_str(), ()).is_some() {
            return Err(DataError::DuplicateColumn { input: src(), line: header_line, column: name.clone() });
        }
    }
    match columns {
        Columns::Named(features) => {
            let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
            let missing: Vec<String> = features.iter().filter(|f| !index.contains_key(f.as_str())).cloned().collect();
            if !missing.is_empty() {
                return Err(DataError::MissingColumns {
                    input: src(),
                    missing,
                    required: features.to_vec(),
                    available: names.to_vec(),
                });
            }
            Ok((features.iter().map(|f| index[f.as_str()]).collect(), features.to_vec()))
        }
        Columns::AllExcept(ignored) => {
            let keep: Vec<usize> =
                (0..names.len()).filter(|&i| !ignored.iter().any(|g| g.eq_ignore_ascii_case(&names[i]))).collect();
            if keep.is_empty() {
                return Err(DataError::NoFeatures {
                    input: src(),
                    ignored: ignored.to_vec(),
                    available: names.to_vec(),
                });
            }
            let wanted = keep.iter().map(|&i| names[i].clone()).collect();
            Ok((keep, wanted))
        }
    }
}

fn csv_error<R>(e: csv::Error, source: &str, lines: &mut Lines<R>) -> DataError {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => DataError::Ragged {
            input: source.to_string(),
            line: lines.line_at(pos.as_ref().map_or(0, csv::Position::byte)),
            expected: *expected_len as usize,
            found: *len as usize,
        },
        csv::ErrorKind::Io(io) => DataError::Io { input: source.to_string(), message: io.to_string() },
        _ => DataError::Invalid { input: source.to_string(), message: e.to_string() },
    }
}

/// md5 of a file's bytes, hex (recorded in the model as the training data's identity).
pub fn file_md5(path: &Path) -> Result<String, DataError> {
    use md5::Digest;
    let source = path.display().to_string();
    let mut file =
        std::fs::File::open(path).map_err(|e| DataError::Io { input: source.clone(), message: e.to_string() })?;
    let mut hasher = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| DataError::Io { input: source.clone(), message: e.to_string() })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}
