//! Fast path of [`super::read_csv_bytes`] for the CSV most clients send: no quote characters, so
//! every non-empty line is a record and every field is the text between two commas.
//!
//! It answers only when it can give exactly the frame the full `csv` reader would: records end
//! at `\n`, `\r` or `\r\n` and empty lines are skipped as `csv` does, fields are trimmed as
//! `Trim::All` trims them, and cells parse through the same [`parse_f64`]. At the first thing
//! it does not handle (a quote, a ragged row, a bad or non-finite cell, a header problem) it
//! gives up with `None`, and the full reader reads the input again and words the error, so
//! every message stays as the reader's tests pin it. Columns the caller did not ask for are
//! split off but never parsed.

use super::decimal::{parse_f64, plain_prefix};
use super::{Columns, Frame, header_names, select_columns};

/// Marks a field that is not one of the selected columns.
const SKIP: usize = usize::MAX;

pub(super) fn read(bytes: &[u8], columns: Columns<'_>) -> Option<Frame> {
    // csv strips a UTF-8 byte order mark before the header.
    let mut rest = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // Quotes: the header's are looked for here, the rows' by `PlainRows::read`.
    let rows = PlainRows::new(next_record(&mut rest)?, columns)?;
    let mut values = Vec::with_capacity(rows_estimate(rest, rows.slot.len()) * rows.row.len());
    let n_rows = rows.read(rest, &mut values)?;
    (n_rows > 0).then_some(Frame { columns: rows.columns, n_rows, values })
}

/// About how many records `lines` holds, so the frame is rarely regrown: the first record's
/// length, with an eighth more, divides the text (counting the lines first was a pass over the
/// body costing a tenth of the parse). Never more than a record of `fields` fields could make:
/// each takes at least `fields` bytes (its commas and line end), so a short first record, or line
/// ends before it (the `\n` of a CRLF header, blank lines), cannot reserve many times the body.
fn rows_estimate(lines: &[u8], fields: usize) -> usize {
    let start = lines.iter().position(|b| !matches!(b, b'\n' | b'\r')).unwrap_or(lines.len());
    let rest = &lines[start..];
    let first = memchr::memchr2(b'\n', b'\r', rest).map_or(rest.len(), |i| i + 1).max(1);
    let estimate = rest.len() / first + rest.len() / first / 8 + 1;
    estimate.min(rest.len() / fields.max(1) + 1)
}

/// The fast path for the lines of a CSV whose header was read: what [`read`] does after the
/// header, for inputs read a block of whole lines at a time (batch scoring).
pub struct PlainRows {
    /// Field index -> position in the frame row.
    slot: Vec<usize>,
    row: Vec<f64>,
    columns: Vec<String>,
}

impl PlainRows {
    /// From the header line (without its line break; a byte order mark is skipped). `None`
    /// where the header needs the full reader (a quote, a duplicate or missing column).
    pub fn new(header: &[u8], columns: Columns<'_>) -> Option<PlainRows> {
        let header = header.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(header);
        if memchr::memchr(b'"', header).is_some() {
            return None;
        }
        let names = header_names(header.split(|&b| b == b','));
        let (selected, wanted) = select_columns(&names, columns, "", 1).ok()?;
        let mut slot = vec![SKIP; names.len()];
        for (k, &field) in selected.iter().enumerate() {
            if slot[field] != SKIP {
                return None; // a column asked for twice: rare enough for the full reader
            }
            slot[field] = k;
        }
        Some(PlainRows { slot, row: vec![0.0; selected.len()], columns: wanted })
    }

    /// The columns the values come in.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Appends the rows of `lines` (whole lines, the header not among them) to `values`;
    /// returns how many. `None` at anything the full reader must read (a quote, a ragged row, a
    /// bad or non-finite cell): then what was appended is to be thrown away.
    pub fn read(&self, mut lines: &[u8], values: &mut Vec<f64>) -> Option<usize> {
        if memchr::memchr(b'"', lines).is_some() {
            return None;
        }
        let mut row = self.row.clone();
        let mut n_rows = 0;
        while let Some(record) = next_record(&mut lines) {
            let mut start = 0;
            for (i, &k) in self.slot.iter().enumerate() {
                let end = if k == SKIP {
                    cell_end(record, start)
                } else {
                    // The usual cell is a plain decimal read in the same pass that finds its end;
                    // anything else (spaces, exponents) is cut out and read like the full reader does.
                    let (value, end) = match plain_prefix(&record[start..]) {
                        Some((value, len)) if matches!(record.get(start + len), None | Some(b',')) => {
                            (value, start + len)
                        }
                        _ => {
                            let end = cell_end(record, start);
                            (parse_f64(record[start..end].trim_ascii()).filter(|v| v.is_finite())?, end)
                        }
                    };
                    row[k] = value;
                    end
                };
                // A missing or extra field makes the record ragged.
                let last = i + 1 == self.slot.len();
                if last != (end == record.len()) {
                    return None;
                }
                start = end + 1;
            }
            values.extend_from_slice(&row);
            n_rows += 1;
        }
        Some(n_rows)
    }
}

/// Where the cell starting at `start` ends: at the next comma or the end of the record.
fn cell_end(record: &[u8], start: usize) -> usize {
    memchr::memchr(b',', &record[start..]).map_or(record.len(), |i| start + i)
}

/// The next non-empty line, ended by `\n`, `\r`, `\r\n` or the end of the input, as csv's
/// default terminator reads records (an empty line is no record).
fn next_record<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    while !rest.is_empty() {
        let end = memchr::memchr2(b'\n', b'\r', rest).unwrap_or(rest.len());
        let line = &rest[..end];
        *rest = rest.get(end + 1..).unwrap_or_default();
        if !line.is_empty() {
            return Some(line);
        }
    }
    None
}
