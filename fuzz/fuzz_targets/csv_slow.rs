//! The CSV reader's slow path: arbitrary bytes (quotes, invalid UTF-8, any line ends) through
//! the full `csv`-based reader, fed a few bytes per read as a network body arrives. It must
//! answer exactly as `read_csv_bytes` does on the whole input (frame bit for bit, or the same
//! error with the same line), and agree with the fast path wherever that one answers.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use model_core::DEFAULT_IGNORED_COLUMNS;
use model_core::data::{Columns, Frame, read_csv, read_csv_bytes, read_csv_fast_path};

/// A reader that gives at most `chunk` bytes per call, so records and line ends fall across reads.
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

fuzz_target!(|data: &[u8]| {
    let Some((&options, text)) = data.split_first() else { return };
    let named = ["a".to_string(), "b".to_string()];
    let ignored: Vec<String> = DEFAULT_IGNORED_COLUMNS.iter().map(|c| c.to_string()).collect();
    // Every column but the usual time and label ones (what training reads), or two named ones
    // (what a model asks for).
    let columns = if options & 1 == 0 { Columns::AllExcept(&ignored) } else { Columns::Named(&named) };
    let chunk = usize::from(options >> 1) + 1;

    let slow = read_csv(Trickle { bytes: text, chunk }, "body", columns);
    match (read_csv_bytes(text, "body", columns), &slow) {
        (Ok(a), Ok(b)) => assert_same(&a, b, text),
        (got, expected) => assert_eq!(&got, expected, "{text:?}, {chunk} bytes per read"),
    }
    if let Some(fast) = read_csv_fast_path(text, columns) {
        match &slow {
            Ok(frame) => assert_same(&fast, frame, text),
            Err(e) => panic!("the fast path read {text:?} but the full reader refused it: {e}"),
        }
    }
    if let Err(e) = &slow {
        assert!(!e.to_string().is_empty());
    }
});

fn assert_same(a: &Frame, b: &Frame, text: &[u8]) {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!((&a.columns, a.n_rows, bits(&a.values)), (&b.columns, b.n_rows, bits(&b.values)), "{text:?}");
}
