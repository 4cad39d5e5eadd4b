//! The CSV reader's fast path: quote-free CSV built from the fuzz input, so `read_csv_fast_path`
//! is always tried first. Where it answers, its frame must be bit for bit what the full `csv`
//! reader gives and what `str::parse::<f64>` makes of each trimmed cell; `read_csv_bytes` (fast
//! path, then the full reader) must answer exactly as the full reader does, errors included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_core::data::{Columns, Frame, read_csv, read_csv_bytes, read_csv_fast_path};

/// What the body bytes map to: the characters of numbers, cell and line separators, spaces and a
/// few letters (`inf`, `nan`, stray text). Bytes of the alphabet stay as they are (so real CSV
/// seeds read as written), any other byte maps into it; no quote, so the input stays fast-path
/// material.
const ALPHABET: &[u8] = b"0123456789012345678901234567890123456789..--++eE  ,,,,,\n\n\n\r\r\tinfaINFAxy_";

/// Headers the first byte picks: plain, extra and reordered columns, CRLF and CR line ends, a
/// byte order mark, spaces around names, an ignored column and a duplicate name.
const HEADERS: [&str; 8] =
    ["a,b\n", "a,b,c\n", "x,a,b\r\n", "b,a\r", "a,time,b\n", "\u{feff}a,b\n", " a , b \n", "a,b,a\n"];

fuzz_target!(|data: &[u8]| {
    let Some((&options, body)) = data.split_first() else { return };
    let mut text = HEADERS[usize::from(options & 7)].as_bytes().to_vec();
    text.extend(
        body.iter().map(|&b| if ALPHABET.contains(&b) { b } else { ALPHABET[usize::from(b) % ALPHABET.len()] }),
    );
    let named = ["a".to_string(), "b".to_string()];
    let ignored = ["time".to_string(), "x".to_string()];
    let columns = if options & 8 == 0 { Columns::Named(&named) } else { Columns::AllExcept(&ignored) };

    let full = read_csv(&text[..], "body", columns);
    if let Some(fast) = read_csv_fast_path(&text, columns) {
        match &full {
            Ok(frame) => assert_same(&fast, frame, &text),
            Err(e) => panic!("the fast path read {text:?} but the full reader refused it: {e}"),
        }
        assert_eq!(bits(&fast.values), bits(&std_values(&text, columns)), "str::parse disagrees on {text:?}");
    }
    match (read_csv_bytes(&text, "body", columns), &full) {
        (Ok(a), Ok(b)) => assert_same(&a, b, &text),
        (got, expected) => assert_eq!(&got, expected, "{text:?}"),
    }
});

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn assert_same(a: &Frame, b: &Frame, text: &[u8]) {
    assert_eq!((&a.columns, a.n_rows, bits(&a.values)), (&b.columns, b.n_rows, bits(&b.values)), "{text:?}");
}

/// The selected cells as `str::parse::<f64>` reads them, split independently of both readers:
/// lines end at `\n` or `\r`, empty lines are skipped, cells are between commas and trimmed.
/// Only called where the fast path accepted the text (quote-free, rectangular, all numbers).
fn std_values(text: &[u8], columns: Columns<'_>) -> Vec<f64> {
    let text = std::str::from_utf8(text).expect("the alphabet and headers are ASCII and a BOM");
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split(['\n', '\r']).filter(|l| !l.is_empty());
    let header: Vec<&str> = lines.next().expect("a header").split(',').map(str::trim_ascii).collect();
    let picked: Vec<usize> = match columns {
        Columns::Named(names) => {
            names.iter().map(|n| header.iter().position(|h| h == n).expect("a named column")).collect()
        }
        Columns::AllExcept(ignored) => {
            (0..header.len()).filter(|&i| !ignored.iter().any(|g| g.eq_ignore_ascii_case(header[i]))).collect()
        }
    };
    let mut values = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        for &i in &picked {
            let cell = cells[i].trim_ascii();
            values.push(cell.parse().unwrap_or_else(|e| panic!("the fast path read {cell:?}, str::parse: {e}")));
        }
    }
    values
}
