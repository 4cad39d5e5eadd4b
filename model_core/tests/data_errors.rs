//! Every bad-input case a user can hit with a CSV gets an error naming file, line and column.

use std::io::Cursor;

use model_core::data::{Columns, read_csv, read_csv_file};
use model_core::features::{FeatureSpec, Scaler, Window};

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn err(text: &str, features: &[&str]) -> String {
    let f = names(features);
    match read_csv(Cursor::new(text.as_bytes().to_vec()), "input.csv", Columns::Named(&f)) {
        Ok(frame) => panic!("expected an error, got {frame:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn non_numeric_cell_names_line_column_and_value() {
    let e = err("a,b\n1,2\n3,x7\n", &["a", "b"]);
    assert_eq!(e, "input.csv: line 3: column \"b\": \"x7\" is not a number");
}

#[test]
fn empty_cell_is_not_a_number() {
    let e = err("a,b\n1,\n", &["a", "b"]);
    assert!(e.contains("line 2") && e.contains("column \"b\"") && e.contains("\"\" is not a number"), "{e}");
}

#[test]
fn nan_and_infinity_are_rejected() {
    for bad in ["NaN", "inf", "-Infinity"] {
        let e = err(&format!("a,b\n1,2\n{bad},3\n"), &["a", "b"]);
        assert!(e.contains("line 3") && e.contains("column \"a\"") && e.contains("not a finite number"), "{e}");
    }
}

#[test]
fn ragged_row_names_line_and_counts() {
    let e = err("a,b,c\n1,2,3\n4,5\n", &["a", "b"]);
    assert_eq!(e, "input.csv: line 3: the row has 2 field(s) but the header has 3");
}

#[test]
fn missing_column_lists_what_is_there() {
    let e = err("a,c\n1,2\n", &["a", "b"]);
    assert!(e.contains("missing column(s) [\"b\"]") && e.contains("[\"a\", \"c\"]"), "{e}");
}

#[test]
fn empty_file_and_header_only() {
    assert!(err("", &["a"]).contains("input.csv: the file is empty"));
    assert!(err("a,b\n", &["a"]).contains("no data rows"));
}

#[test]
fn duplicate_header_is_rejected() {
    assert!(err("a,a\n1,2\n", &["a"]).contains("column \"a\" appears twice"));
}

#[test]
fn extra_and_non_numeric_ignored_columns_are_fine_and_order_is_free() {
    let f = names(&["b", "a"]);
    let frame =
        read_csv(Cursor::new(b"timestamp,a,b\n2025-01-01,1,2\n2025-01-02,3,4\n".to_vec()), "x", Columns::Named(&f))
            .unwrap();
    assert_eq!(frame.columns, f);
    assert_eq!(frame.values, vec![2.0, 1.0, 4.0, 3.0]);
    let ignore = names(&["Timestamp"]);
    let all = read_csv(Cursor::new(b"timestamp,a,b\nt,1,2\n".to_vec()), "x", Columns::AllExcept(&ignore)).unwrap();
    assert_eq!(all.columns, names(&["a", "b"]));
}

#[test]
fn fewer_rows_than_one_window() {
    let f = names(&["a"]);
    let frame = read_csv(Cursor::new(b"a\n1\n2\n3\n".to_vec()), "series.csv", Columns::Named(&f)).unwrap();
    let spec = FeatureSpec {
        features: f,
        window: Window { length: 5, stride: 1 },
        scaler: Scaler { mean: vec![0.0], std: vec![1.0] },
    };
    let e = spec.inputs(&frame, "series.csv", 1).unwrap_err().to_string();
    assert_eq!(e, "series.csv: 3 row(s) is fewer than one window of 5; send at least 5 rows");
}

#[test]
fn file_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.csv");
    std::fs::write(&path, "a\n1\nzz\n").unwrap();
    let f = names(&["a"]);
    let e = read_csv_file(&path, Columns::Named(&f)).unwrap_err().to_string();
    assert!(e.starts_with(&path.display().to_string()) && e.contains("line 3"), "{e}");
    let missing = read_csv_file(&dir.path().join("nope.csv"), Columns::Named(&f)).unwrap_err().to_string();
    assert!(missing.contains("nope.csv") && missing.contains("cannot read"), "{missing}");
}

/// Group training reads each row's group (a text column) in the same pass as the numbers: the
/// same values, groups in order of first appearance, and errors that name the column or line.
#[test]
fn a_group_column_is_read_with_the_rows_and_its_errors_name_it() {
    use model_core::data::{CsvRows, read_csv, read_csv_grouped_file};
    let ignore = ["timestamp".to_string(), "machine".to_string()];
    let text = "timestamp,machine,a,b\r\n1,m02,1.5,2\r\n\r\n2, m01 ,3,4\r\n3,m02,5,6\r\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fleet.csv");
    std::fs::write(&path, text).expect("write");
    let (frame, groups) =
        read_csv_grouped_file(&path, model_core::Columns::AllExcept(&ignore), "machine").expect("grouped read");
    let plain = read_csv(text.as_bytes(), "x", model_core::Columns::AllExcept(&ignore)).expect("read");
    assert_eq!((frame.columns.clone(), frame.values.clone()), (plain.columns, plain.values));
    assert_eq!(groups.column, "machine");
    assert_eq!(groups.names, ["m02", "m01"], "trimmed, in order of first appearance");
    assert_eq!(groups.codes, [0, 1, 0]);

    let missing = CsvRows::grouped(text.as_bytes(), "fleet.csv", model_core::Columns::AllExcept(&ignore), "site")
        .err()
        .expect("no such column");
    assert_eq!(
        missing.to_string(),
        "fleet.csv: no column \"site\" to group rows by (data.group_by); the input has [\"timestamp\", \"machine\", \"a\", \"b\"]"
    );
    let empty = "timestamp,machine,a,b\n1,m01,1,2\n2, ,3,4\n";
    let mut rows = CsvRows::grouped(empty.as_bytes(), "fleet.csv", model_core::Columns::AllExcept(&ignore), "machine")
        .expect("header");
    let err = rows.read(usize::MAX, &mut Vec::new()).expect_err("an empty group");
    assert_eq!(err.to_string(), "fleet.csv: line 3: column \"machine\" is empty; every row needs its group");
}
