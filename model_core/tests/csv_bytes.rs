//! `read_csv_bytes` (request bodies, with its quote-free fast path) gives exactly what the
//! streaming `read_csv` gives: the same frame, or the same error naming the same line and column.

use std::io::Cursor;

use model_core::data::{Columns, read_csv, read_csv_bytes};

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn assert_same(text: &str, features: &[&str]) {
    let f = names(features);
    let ignored = names(&["timestamp"]);
    for columns in [Columns::Named(&f), Columns::AllExcept(&ignored)] {
        let streamed = read_csv(Cursor::new(text.as_bytes()), "body", columns).map_err(|e| e.to_string());
        let in_memory = read_csv_bytes(text.as_bytes(), "body", columns).map_err(|e| e.to_string());
        match (&streamed, &in_memory) {
            (Ok(a), Ok(b)) => {
                // Bit for bit, so -0.0 and 0.0 count as different.
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    (&a.columns, a.n_rows, bits(&a.values)),
                    (&b.columns, b.n_rows, bits(&b.values)),
                    "{text:?}"
                );
            }
            _ => assert_eq!(streamed, in_memory, "{text:?}"),
        }
    }
}

#[test]
fn well_formed_inputs_give_the_same_frame() {
    for text in [
        "timestamp,a,b\n2025-01-01,1.5,-2.25\n2025-01-02,3,4\n",
        "a,b\n1,2",                                        // no final line end
        "a,b\r\n1,2\r\n3,4\r\n",                           // CRLF
        "a,b\r1,2\r3,4\r",                                 // CR alone ends a record too
        "\u{feff}a,b\n1,2\n",                              // byte order mark
        "\n\na,b\n\n1,2\n\n\n3,4\n",                       // empty lines are no records
        " a , b \n 1 ,\t2 \n",                             // whitespace around names and values
        "a,b\n1e3,-2.5E-2\n+7,.5\n1.,-0\n",                // exponents, signs, bare dots
        "a,b\n123456789012345678,0.1234567890123456789\n", // beyond the exact fast path
        "a,b\n-0.0,0\n",
        "a,b,c\n1,2,not a number\n", // unselected cells are never parsed
        "a,\"b\"\n\"1\",2\n",        // quotes: the full reader
        "b,a\n1,2\n",                // order free
    ] {
        assert_same(text, &["a", "b"]);
    }
}

#[test]
fn bad_inputs_give_the_same_error() {
    for text in [
        "",
        "\n\n",
        "a,b\n",
        "a,b\n1,2\n3,x7\n",
        "a,b\n1,\n",
        "a,b\n1,2,3\n",
        "a,b,c\n1,2\n",
        "a,b\n1,2\n\n3\n",
        "a,b\n1,NaN\n",
        "a,b\n1,inf\n",
        "a,b\n1,1e400\n",
        "a,b\n1,2 3\n",
        "a,b\n1,1.2.3\n",
        "a,b\n1,--1\n",
        "a,b\n1,0x10\n",
        "a,a\n1,2\n",
        "a,c\n1,2\n",
        "a,b\r1,2\rx,4\r",
        "a,b\n1,\"2\n3\"\n",
        "a,b\n1,\u{feff}2\n",
        "a,b\n1,\u{00e9}\n",
    ] {
        assert_same(text, &["a", "b"]);
    }
}

#[test]
fn the_frame_reserves_about_the_rows_the_body_holds() {
    // A CRLF header leaves the `\n` before the first row, and blank lines may follow it: the
    // rows are estimated from the first real row, not from a one-byte "line".
    let row = "2025-01-01T00:00:00,1.25,-2.5,3.75,4.0,5.5,-6.25,7.0,8.125";
    let header = "timestamp,a,b,c,d,e,f,g,h";
    let features: Vec<String> = names(&["a", "b", "c", "d", "e", "f", "g", "h"]);
    for (end, gap) in [("\r\n", ""), ("\n", "\n\n\n"), ("\r", "")] {
        let text = format!("{header}{end}{gap}{}", format!("{row}{end}").repeat(1000));
        let frame = read_csv_bytes(text.as_bytes(), "body", Columns::Named(&features)).expect("reads");
        assert_eq!(frame.n_rows, 1000);
        assert!(
            frame.values.capacity() <= frame.values.len() * 5 / 4 + 8,
            "{end:?}{gap:?}: {} values reserved for {}",
            frame.values.capacity(),
            frame.values.len()
        );
    }
}
