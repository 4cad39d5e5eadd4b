//! Fits an isolation forest on a CSV of numeric columns (header row first) and prints the anomaly
//! score of every row of a second CSV, one per line (higher = more anomalous, as sklearn's
//! `-score_samples`). Fit and score times go to stderr. Used by `scripts/iforest_vs_sklearn.sh`.
//!
//!     cargo run -p isolation_forest --example score_csv -- TRAIN.csv TEST.csv [SEED] [N_ESTIMATORS] [MAX_SAMPLES]

use anyhow::{Context, Result, bail};
use isolation_forest::{IsolationForest, IsolationForestConfig};
use std::io::Write;
use std::time::Instant;

/// Reads a header row and numeric rows into row-major values; returns (values, rows, columns).
fn read_csv(path: &str) -> Result<(Vec<f32>, usize, usize)> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("opening {path}"))?;
    let n_features = reader.headers().with_context(|| format!("reading the header of {path}"))?.len();
    let mut values = Vec::new();
    let mut n_rows = 0;
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{path}: reading data row {}", i + 1))?;
        if record.len() != n_features {
            bail!("{path}: data row {} has {} fields, the header {n_features}", i + 1, record.len());
        }
        for (j, field) in record.iter().enumerate() {
            let v: f32 = field
                .trim()
                .parse()
                .with_context(|| format!("{path}: data row {}, column {}: {field:?} is not a number", i + 1, j + 1))?;
            values.push(v);
        }
        n_rows += 1;
    }
    Ok((values, n_rows, n_features))
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> Result<T> {
    match args.get(i) {
        None => Ok(default),
        Some(s) => s.parse().map_err(|_| anyhow::anyhow!("argument {i} ({s:?}) is not a valid number")),
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: score_csv TRAIN.csv TEST.csv [SEED] [N_ESTIMATORS] [MAX_SAMPLES]");
    }
    let config = IsolationForestConfig {
        seed: arg(&args, 3, 0)?,
        n_estimators: arg(&args, 4, 100)?,
        max_samples: arg(&args, 5, 256)?,
    };
    let (train, n_train, n_features) = read_csv(&args[1])?;
    let (test, n_test, test_features) = read_csv(&args[2])?;
    if test_features != n_features {
        bail!("{} has {test_features} columns, {} has {n_features}", args[2], args[1]);
    }
    let t0 = Instant::now();
    let forest = IsolationForest::fit(&train, n_train, n_features, &config)
        .with_context(|| format!("fitting on {}", args[1]))?;
    let fit_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let scores = forest.score(&test, n_test);
    let score_s = t1.elapsed().as_secs_f64();
    eprintln!("fit {n_train} rows: {:.2} ms; score {n_test} rows: {:.2} ms", fit_s * 1e3, score_s * 1e3);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for s in scores {
        writeln!(out, "{s}")?;
    }
    out.flush()?;
    Ok(())
}
