//! Reading a CSV body into a frame, the first step of every `/compute` request: model_core's
//! fast path (`read_csv_bytes`) beside the general reader of the same crate (`read_csv`: the csv
//! crate's record reader, then `str::parse` per cell), which gives the same frame. Bodies: the
//! serving benchmark's 100-row and 10,000-row bodies of 32 features (`scripts/bench_serving.sh`
//! writes the same kind), and the SKAB files in `../shared/data` when they are there.
//!
//! Then the cells alone: each cell of the 10,000-row body (its bounds known) read by our
//! `parse_f64`, by fast-float2 (Eisel-Lemire, the algorithm of C++'s fast_float) and by
//! `str::parse`, all three giving the same bits.
//!
//! Run: `cargo bench -p model_core --bench parse` (release). Prints the median of many reads.

use std::fmt::Write;
use std::path::Path;
use std::time::Instant;

use model_core::data::{Columns, parse_f64, read_csv, read_csv_bytes};

/// The serving benchmark's kind of body: a row counter, then 32 values in [-2, 2) with six
/// decimals (the anchors' synth.py writes six).
fn body(rows: usize) -> (String, Vec<String>) {
    let features: Vec<String> = (0..32).map(|i| format!("sensor_{i:02}")).collect();
    let mut state = 42u64;
    let mut csv = format!("timestamp,{}\n", features.join(","));
    for r in 0..rows {
        let _ = write!(csv, "{r}");
        for _ in 0..features.len() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let value = ((state >> 11) as f64) / ((1u64 << 53) as f64) * 4.0 - 2.0;
            let _ = write!(csv, ",{value:.6}");
        }
        csv.push('\n');
    }
    (csv, features)
}

/// Median seconds per call of `read` over enough calls for about half a second.
fn median_secs(mut read: impl FnMut()) -> f64 {
    let start = Instant::now();
    read();
    let once = start.elapsed().as_secs_f64().max(1e-7);
    let calls = ((0.05 / once) as usize).clamp(3, 100_000);
    let mut rounds: Vec<f64> = (0..9)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                read();
            }
            start.elapsed().as_secs_f64() / calls as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

fn compare(name: &str, csv: &str, features: &[String]) {
    let columns = Columns::Named(features);
    let fast = read_csv_bytes(csv.as_bytes(), name, columns).unwrap_or_else(|e| panic!("{name}: {e}"));
    let general = read_csv(csv.as_bytes(), name, columns).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(fast.values, general.values, "{name}: the two readers disagree");
    let cells = (fast.n_rows * features.len()) as f64;
    let fast_s = median_secs(|| {
        std::hint::black_box(read_csv_bytes(std::hint::black_box(csv.as_bytes()), name, columns).ok());
    });
    let general_s = median_secs(|| {
        std::hint::black_box(read_csv(std::hint::black_box(csv.as_bytes()), name, columns).ok());
    });
    let mb = csv.len() as f64 / 1e6;
    println!(
        "{name:<28} {:>7} rows {:>8.1} us {:>6.1} ns/cell {:>6.0} MB/s | csv crate + str::parse {:>8.1} us {:>6.1} ns/cell | {:.1}x",
        fast.n_rows,
        fast_s * 1e6,
        fast_s * 1e9 / cells,
        mb / fast_s,
        general_s * 1e6,
        general_s * 1e9 / cells,
        general_s / fast_s
    );
}

fn main() {
    for rows in [100, 10_000] {
        let (csv, features) = body(rows);
        compare(&format!("serving body, {rows} rows"), &csv, &features);
    }
    cells_alone(&body(10_000).0);
    // Any other body given: PARSE_BODY=file.csv (every column a feature).
    if let Some(csv) = std::env::var_os("PARSE_BODY").and_then(|p| std::fs::read_to_string(p).ok()) {
        let features: Vec<String> = csv.lines().next().unwrap_or("").split(',').map(str::to_string).collect();
        compare("PARSE_BODY", &csv, &features);
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let Ok(entries) = std::fs::read_dir(&data) else {
        println!("({} not found: SKAB files skipped)", data.display());
        return;
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path().join("train.csv")).filter(|p| p.is_file()).collect();
    files.sort();
    for path in files.iter().take(3) {
        let Ok(csv) = std::fs::read_to_string(path) else { continue };
        let Some(header) = csv.lines().next() else { continue };
        let features: Vec<String> = header.split(',').map(str::to_string).collect();
        let name = path.parent().and_then(Path::file_name).map_or("?".into(), |n| n.to_string_lossy().into_owned());
        compare(&format!("SKAB {name}/train.csv"), &csv, &features);
    }
}

/// Each number cell of `csv` parsed alone by the three parsers; they must agree bit for bit.
fn cells_alone(csv: &str) {
    let cells: Vec<&[u8]> = csv.lines().skip(1).flat_map(|line| line.split(',').skip(1)).map(str::as_bytes).collect();
    let ours = |c: &[u8]| parse_f64(c);
    let fast_float = |c: &[u8]| fast_float2::parse::<f64, _>(c).ok();
    let std = |c: &[u8]| std::str::from_utf8(c).ok().and_then(|s| s.parse::<f64>().ok());
    for c in &cells {
        let expected = std(c).map(f64::to_bits);
        assert_eq!(ours(c).map(f64::to_bits), expected, "{:?}", String::from_utf8_lossy(c));
        assert_eq!(fast_float(c).map(f64::to_bits), expected, "{:?}", String::from_utf8_lossy(c));
    }
    let time = |parse: &dyn Fn(&[u8]) -> Option<f64>| {
        median_secs(|| {
            let mut sum = 0.0;
            for c in &cells {
                sum += parse(std::hint::black_box(c)).unwrap_or(0.0);
            }
            std::hint::black_box(sum);
        }) * 1e9
            / cells.len() as f64
    };
    let (a, b, c) = (time(&ours), time(&fast_float), time(&std));
    println!(
        "{} cells alone, ns a cell: ours (parse_f64) {a:.1}, fast-float2 {b:.1} ({:.2}x ours), str::parse {c:.1} ({:.2}x ours)",
        cells.len(),
        b / a,
        c / a
    );
}
