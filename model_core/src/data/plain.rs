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
    if memchr::memchr(b'"', bytes).is_some() {
        return None;
    }
    // csv strips a UTF-8 byte order mark before the header.
    let mut rest = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let names = header_names(next_record(&mut rest)?.split(|&b| b == b','));
    let (selected, wanted) = select_columns(&names, columns, "", 1).ok()?;

    // Field index -> position in the frame row.
    let mut slot = vec![SKIP; names.len()];
    for (k, &field) in selected.iter().enumerate() {
        if slot[field] != SKIP {
            return None; // a column asked for twice: rare enough for the full reader
        }
        slot[field] = k;
    }
    let mut row = vec![0.0; selected.len()];
    // One row per line at most (CRLF and LF files alike): counting them saves regrowing the frame.
    let mut values = Vec::with_capacity((memchr::memchr_iter(b'\n', rest).count() + 1) * row.len());
    let mut n_rows = 0;
    while let Some(record) = next_record(&mut rest) {
        let mut start = 0;
        for (i, &k) in slot.iter().enumerate() {
            let end = if k == SKIP {
                cell_end(record, start)
            } else {
                // The usual cell is a plain decimal read in the same pass that finds its end;
                // anything else (spaces, exponents) is cut out and read like the full reader does.
                let (value, end) = match plain_prefix(&record[start..]) {
                    Some((value, len)) if matches!(record.get(start + len), None | Some(b',')) => (value, start + len),
                    _ => {
                        let end = cell_end(record, start);
                        (parse_f64(record[start..end].trim_ascii()).filter(|v| v.is_finite())?, end)
                    }
                };
                row[k] = value;
                end
            };
            // A missing or extra field makes the record ragged.
            let last = i + 1 == slot.len();
            if last != (end == record.len()) {
                return None;
            }
            start = end + 1;
        }
        values.extend_from_slice(&row);
        n_rows += 1;
    }
    (n_rows > 0).then_some(Frame { columns: wanted, n_rows, values })
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
