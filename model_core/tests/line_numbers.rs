//! CSV errors name the line an editor shows (the header is line 1), whatever ends the lines
//! (`\n`, `\r\n`, a lone `\r`), however many empty lines come before the bad row, and with
//! quoted fields spanning lines before it: through the streaming reader, the in-memory reader
//! of request bodies (fast path and all) and a file, which every caller (the service, `score`,
//! `train`) reads through.

use std::io::Cursor;

use model_core::data::{Columns, read_csv, read_csv_bytes, read_csv_file};
use model_core::error::DataError;

/// The line every way of reading `text` reports for its error (all must agree).
fn error_line(text: &str) -> u64 {
    let features = vec!["a".to_string(), "b".to_string()];
    let columns = Columns::Named(&features);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.csv");
    std::fs::write(&path, text).unwrap();
    let errors = [
        read_csv(Cursor::new(text.as_bytes()), "input", columns),
        read_csv_bytes(text.as_bytes(), "input", columns),
        read_csv_file(&path, columns),
    ]
    .map(|r| r.expect_err(&format!("{text:?} is invalid")));
    let lines = errors.clone().map(|e| match e {
        DataError::NotNumeric { line, .. }
        | DataError::NotFinite { line, .. }
        | DataError::Ragged { line, .. }
        | DataError::DuplicateColumn { line, .. } => line,
        other => panic!("{text:?}: no line in {other}"),
    });
    assert!(lines.iter().all(|l| *l == lines[0]), "{text:?}: {errors:?}");
    let message = errors[0].to_string();
    assert!(message.contains(&format!("line {}:", lines[0])), "{message}");
    lines[0]
}

/// `lines` joined by `end`, ended by it too.
fn joined(lines: &[&str], end: &str) -> String {
    lines.iter().map(|l| format!("{l}{end}")).collect()
}

#[test]
fn a_bad_cell_is_on_its_editor_line_with_any_line_end() {
    for end in ["\n", "\r\n", "\r"] {
        for (lines, expected) in [
            (&["a,b", "x,2"][..], 2),
            (&["a,b", "1,2", "3,4", "5,x7"][..], 4),
            (&["a,b", "1,2", "3,4", "5,NaN"][..], 4),
            (&["a,b", "1,2", "3"][..], 3),            // ragged
            (&["a,b", "1,2", "3,4,5", "6,7"][..], 3), // ragged, too many
        ] {
            let text = joined(lines, end);
            assert_eq!(error_line(&text), expected, "{text:?}");
        }
    }
}

#[test]
fn empty_lines_anywhere_are_counted() {
    for end in ["\n", "\r\n", "\r"] {
        for (lines, expected) in [
            (&["a,b", "", "x,2"][..], 3),
            (&["a,b", "1,2", "", "", "3,x"][..], 5),
            (&["", "", "a,b", "1,2", "3,x"][..], 5),
            (&["a,b", "", "1,2", "", "3,4", "", "", "5"][..], 8), // ragged after empty lines
            (&["", "a,a", "1,2"][..], 2),                         // the header is where it is
            (&["a,b", "1,2", "  ", "3,x"][..], 3),                // spaces are a field: a ragged row
        ] {
            let text = joined(lines, end);
            assert_eq!(error_line(&text), expected, "{text:?}");
        }
    }
}

#[test]
fn mixed_line_ends_and_no_final_line_end() {
    assert_eq!(error_line("a,b\r\n1,2\n3,4\r5,6\r\n\r\n7,x"), 6);
    assert_eq!(error_line("a,b\n\r1,2\n\r3,x\n"), 5); // `\n\r` is two line ends
}

#[test]
fn quoted_fields_spanning_lines_count_their_lines() {
    let text = "a,b,note\n1,2,\"two\nlines\"\n3,4,\"three\r\nlines\rhere\"\n5,x,\n";
    assert_eq!(error_line(text), 7);
    // The bad row itself begins with a quoted field: its first line.
    let text = "a,b\n1,2\n\"3\",\"x\"\n";
    assert_eq!(error_line(text), 3);
}

#[test]
fn a_byte_order_mark_does_not_move_the_header() {
    assert_eq!(error_line("\u{feff}a,a\n1,2\n"), 1);
    assert_eq!(error_line("\u{feff}a,b\r\n1,2\r\n3,x\r\n"), 3);
}
