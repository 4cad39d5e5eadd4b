//! Properties on random inputs: the in-memory reader (with its fast path for quote-free CSV and
//! its fast decimal parser) gives what the streaming reader gives, and a cell's number is what
//! `str::parse::<f64>` makes of its trimmed text; errors name the line an editor shows, also
//! when the reader hands the bytes over a few at a time.

use std::io::Read;

use model_core::data::{Columns, Frame, read_csv, read_csv_bytes, read_csv_fast_path};
use model_core::error::DataError;
use proptest::prelude::*;

/// A reader that gives at most `chunk` bytes per call, so line ends fall across reads.
struct Trickle<'a> {
    bytes: &'a [u8],
    chunk: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

fn features() -> Vec<String> {
    vec!["a".to_string(), "b".to_string()]
}

/// Both readers on `text`; they must agree (bit for bit on success).
fn read_both(text: &str, chunk: usize) -> Result<Frame, DataError> {
    let f = features();
    let fast = read_csv_bytes(text.as_bytes(), "body", Columns::Named(&f));
    let slow = read_csv(Trickle { bytes: text.as_bytes(), chunk }, "body", Columns::Named(&f));
    match (&fast, &slow) {
        (Ok(a), Ok(b)) => {
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!((a.n_rows, bits(&a.values)), (b.n_rows, bits(&b.values)), "{text:?}");
        }
        _ => assert_eq!(fast, slow, "{text:?}"),
    }
    slow
}

/// What the standard library makes of a cell (trimmed as the readers trim), if it is a finite
/// number.
fn std_value(cell: &str) -> Option<f64> {
    cell.trim_ascii().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Decimal-looking text: signs, leading zeros, dots, exponents, spaces and tabs around it, and
/// now and then a stray character, so both accepted and refused cells come up.
fn cell() -> impl Strategy<Value = String> {
    let space = prop_oneof![Just(""), Just(" "), Just("\t"), Just("  \t")];
    let sign = prop_oneof![Just(""), Just("-"), Just("+"), Just("--"), Just("+-")];
    let zeros = prop_oneof![Just(""), Just("0"), Just("000")];
    let digits = |max: usize| {
        proptest::collection::vec(0u8..10, 0..max)
            .prop_map(|d| d.iter().map(|x| (b'0' + x) as char).collect::<String>())
    };
    let exponent = prop_oneof![
        3 => Just(String::new()),
        1 => (prop_oneof![Just("e"), Just("E")], prop_oneof![Just(""), Just("-"), Just("+")], 0u32..400)
            .prop_map(|(e, s, n)| format!("{e}{s}{n}")),
        1 => Just("e".to_string()),
    ];
    let stray = prop_oneof![8 => Just(""), 1 => Just("x"), 1 => Just("."), 1 => Just("_"), 1 => Just(" 1")];
    (space.clone(), sign, zeros, digits(20), prop_oneof![Just(""), Just(".")], digits(20), exponent, stray, space)
        .prop_map(|(s1, sign, zeros, int, dot, frac, exp, stray, s2)| {
            format!("{s1}{sign}{zeros}{int}{dot}{frac}{exp}{stray}{s2}")
        })
}

/// Where the line ends of `bytes[..end]` put `end`: 1 + the `\r\n`, `\r` and `\n` before it.
fn editor_line(bytes: &[u8], end: usize) -> u64 {
    let (mut line, mut i) = (1, 0);
    while i < end {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') && i + 1 < end => {
                line += 1;
                i += 1;
            }
            b'\r' | b'\n' => line += 1,
            _ => {}
        }
        i += 1;
    }
    line
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    #[test]
    fn cells_read_as_str_parse_reads_them(cells in proptest::collection::vec(cell(), 2..8), chunk in 1usize..64) {
        // Two columns; an odd cell out pads the last row.
        let mut text = String::from("a,b\n");
        for pair in cells.chunks(2) {
            text.push_str(&format!("{},{}\n", pair[0], pair.get(1).map_or("0", String::as_str)));
        }
        let expected: Option<Vec<f64>> = cells
            .chunks(2)
            .flat_map(|pair| [std_value(&pair[0]), pair.get(1).map_or(Some(0.0), |c| std_value(c))])
            .collect();
        match (read_both(&text, chunk), expected) {
            (Ok(frame), Some(values)) => {
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                prop_assert_eq!(bits(&frame.values), bits(&values), "{:?}", text);
            }
            (Err(DataError::NotNumeric { .. } | DataError::NotFinite { .. }), None) => {}
            (got, expected) => prop_assert!(false, "{:?}: read {:?}, str::parse gives {:?}", text, got, expected),
        }
    }

    #[test]
    fn the_fast_path_itself_reads_plain_decimals_as_str_parse(
        cells in proptest::collection::vec("[+-]?[0-9]{1,17}(\\.[0-9]{0,17})?([eE][+-]?[0-9]{1,3})?", 2..40),
    ) {
        // Decimals as sensors write them (some too long for the 15-digit shortcut, some with
        // exponents): the fast path must answer itself, not hand the body to the full reader,
        // and every value must be the standard library's, bit for bit.
        let mut text = String::from("a,b\n");
        for pair in cells.chunks_exact(2) {
            text.push_str(&format!("{},{}\n", pair[0], pair[1]));
        }
        let expected: Vec<f64> = cells.chunks_exact(2).flatten().map(|c| c.parse::<f64>().unwrap()).collect();
        let f = features();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        match read_csv_fast_path(text.as_bytes(), Columns::Named(&f)) {
            Some(frame) => prop_assert_eq!(bits(&frame.values), bits(&expected), "{:?}", text),
            // Only a value out of f64's range (an exponent) may send it to the full reader.
            None => prop_assert!(expected.iter().any(|v| !v.is_finite()), "fast path declined {:?}", text),
        }
    }

    #[test]
    fn any_cell_text_reads_as_str_parse_reads_it(
        cells in proptest::collection::vec("[^\",\r\n]{0,12}", 2..10),
        chunk in 1usize..32,
    ) {
        // Arbitrary text (any Unicode, control characters, spaces) in a cell: a number exactly
        // where str::parse finds a finite one, on both paths.
        let mut text = String::from("a,b\n");
        for pair in cells.chunks_exact(2) {
            text.push_str(&format!("{},{}\n", pair[0], pair[1]));
        }
        let expected: Option<Vec<f64>> = cells.chunks_exact(2).flatten().map(|c| std_value(c)).collect();
        match (read_both(&text, chunk), expected) {
            (Ok(frame), Some(values)) => {
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                prop_assert_eq!(bits(&frame.values), bits(&values), "{:?}", text);
            }
            (Err(DataError::NotNumeric { .. } | DataError::NotFinite { .. }), None) => {}
            (got, expected) => prop_assert!(false, "{:?}: read {:?}, str::parse gives {:?}", text, got, expected),
        }
    }

    #[test]
    fn errors_name_the_editor_line(
        rows in proptest::collection::vec((prop_oneof![3 => Just("1,2"), 1 => Just(""), 1 => Just(" 3 ,\t4")], 0usize..3), 0..12),
        header_end in 0usize..3,
        bad in prop_oneof![Just("1,x"), Just("1"), Just("1,2,3"), Just("nan,1"), Just("\"1\",\"y\"")],
        leading_empty in 0usize..3,
        chunk in 1usize..16,
    ) {
        let ends = ["\n", "\r\n", "\r"];
        let mut text = "\n".repeat(leading_empty);
        text.push_str("a,b");
        text.push_str(ends[header_end]);
        for (row, end) in &rows {
            text.push_str(row);
            text.push_str(ends[*end]);
        }
        let start = text.len();
        text.push_str(bad);
        text.push_str("\n9,9\n");
        let line = match read_both(&text, chunk) {
            Err(
                DataError::NotNumeric { line, .. }
                | DataError::NotFinite { line, .. }
                | DataError::Ragged { line, .. },
            ) => line,
            other => return Err(TestCaseError::fail(format!("{text:?}: {other:?}"))),
        };
        prop_assert_eq!(line, editor_line(text.as_bytes(), start), "{:?}", text);
    }
}
