//! `benchmark`: detection quality of the defaults (or of a params file) on the user's own
//! labelled data. Every folder under DIR holding `train.csv`, `test.csv` and `labels.csv` is one
//! series: train on `train.csv`, score `test.csv`, compare with `labels.csv`, the same way
//! `train` + `evaluate` do, with the Isolation Forest baseline beside it; then per-series and
//! mean ROC-AUC, PR-AUC and best F1, as a table and as JSON.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use model_core::metrics::evaluate as evaluate_metrics;
use serde::Serialize;

use crate::commands::{read_labels, read_training_data, score_file};
use crate::params::Params;
use crate::train::train as train_model;
use std::io::Write;

/// Ranking quality of one detector on one series.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Quality {
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub best_f1: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesResult {
    /// The folder, relative to DIR.
    pub series: String,
    pub test_rows: usize,
    pub model: Quality,
    pub baseline: Option<Quality>,
    pub train_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub data: String,
    /// The detector the baseline is (`iforest`), if one ran.
    pub baseline_kind: Option<String>,
    pub series: Vec<SeriesResult>,
    pub mean: Quality,
    pub baseline_mean: Option<Quality>,
    pub train_seconds: f64,
}

/// Folders under `dir` (itself included) holding the three files, sorted by path.
pub fn find_series(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    // Symbolic links to series folders are followed; a link back up the tree is walked once.
    let mut seen = std::collections::HashSet::new();
    while let Some(d) = pending.pop() {
        if !seen.insert(std::fs::canonicalize(&d).unwrap_or_else(|_| d.clone())) {
            continue;
        }
        if ["train.csv", "test.csv", "labels.csv"].iter().all(|f| d.join(f).is_file()) {
            found.push(d.clone());
        }
        let entries = std::fs::read_dir(&d).with_context(|| format!("reading the directory {}", d.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading the directory {}", d.display()))?;
            if entry.path().is_dir() {
                pending.push(entry.path());
            }
        }
    }
    found.sort();
    if found.is_empty() {
        bail!(
            "{}: no folder holds train.csv, test.csv and labels.csv; a benchmark needs at least one labelled series",
            dir.display()
        );
    }
    Ok(found)
}

/// Trains and scores every series under `dir` with `params`; `baseline` adds the Isolation
/// Forest trained on the same rows. `progress` hears each series' result as it is done.
pub fn run(dir: &Path, params: &Params, baseline: bool, progress: &mut dyn FnMut(&SeriesResult)) -> Result<Report> {
    let mut series = Vec::new();
    for folder in find_series(dir)? {
        let name = folder.strip_prefix(dir).unwrap_or(&folder).display().to_string();
        let name = if name.is_empty() { ".".to_string() } else { name };
        let result = one_series(&folder, &name, params, baseline)?;
        progress(&result);
        series.push(result);
    }
    let mean = mean_quality(series.iter().map(|s| s.model));
    let baseline_mean = if baseline { Some(mean_quality(series.iter().filter_map(|s| s.baseline))) } else { None };
    Ok(Report {
        data: dir.display().to_string(),
        baseline_kind: baseline.then(|| "iforest".to_string()),
        train_seconds: series.iter().map(|s| s.train_seconds).sum(),
        series,
        mean,
        baseline_mean,
    })
}

fn one_series(folder: &Path, name: &str, params: &Params, baseline: bool) -> Result<SeriesResult> {
    let train_csv = folder.join("train.csv");
    let (frame, info) = read_training_data(&train_csv, params)?;
    let started = Instant::now();
    let model = train_model(&frame, info, params, &train_csv.display().to_string(), &mut |_, _, _, _| {})
        .with_context(|| format!("training on {}", train_csv.display()))?;
    let train_seconds = started.elapsed().as_secs_f64();
    let test_csv = folder.join("test.csv");
    let (test, scores) = score_file(&model, &test_csv)?;
    let labels = read_labels(&folder.join("labels.csv"), test.n_rows)?;
    let quality = |scores: &[f32]| {
        let m = evaluate_metrics(scores, &labels, f64::INFINITY);
        Quality { roc_auc: m.roc_auc, pr_auc: m.pr_auc, best_f1: m.best_f1 }
    };
    let baseline = if baseline {
        let forest_params = crate::train::forest::baseline_params(params);
        let (frame, info) = read_training_data(&train_csv, &forest_params)?;
        let forest = crate::train::forest::train_forest(&frame, info, &forest_params, &train_csv.display().to_string())
            .with_context(|| format!("training the Isolation Forest baseline on {}", train_csv.display()))?;
        let forest_scores = forest.score_frame(&test, &test_csv.display().to_string())?;
        Some(quality(&forest_scores.scores))
    } else {
        None
    };
    Ok(SeriesResult {
        series: name.to_string(),
        test_rows: test.n_rows,
        model: quality(&scores.scores),
        baseline,
        train_seconds,
    })
}

fn mean_quality(items: impl Iterator<Item = Quality>) -> Quality {
    let (mut n, mut roc, mut pr, mut f1) = (0usize, 0.0, 0.0, 0.0);
    for q in items {
        n += 1;
        roc += q.roc_auc;
        pr += q.pr_auc;
        f1 += q.best_f1;
    }
    let n = n.max(1) as f64;
    Quality { roc_auc: roc / n, pr_auc: pr / n, best_f1: f1 / n }
}

/// The table's header line.
pub fn header(baseline: bool) -> String {
    let mut line = format!("{:<24} {:>7} {:>8} {:>8} {:>8}", "series", "rows", "roc_auc", "pr_auc", "best_f1");
    if baseline {
        line.push_str(&format!(" | {:>8} {:>8} {:>8}", "if_roc", "if_pr", "if_f1"));
    }
    line.push_str(&format!(" {:>8}", "train_s"));
    line
}

/// One table line for a series.
pub fn line(r: &SeriesResult) -> String {
    format_line(&r.series, &r.test_rows.to_string(), &r.model, r.baseline.as_ref(), r.train_seconds)
}

/// The table's last line: the means.
pub fn mean_line(report: &Report) -> String {
    format_line("mean", "", &report.mean, report.baseline_mean.as_ref(), report.train_seconds)
}

fn format_line(name: &str, rows: &str, q: &Quality, b: Option<&Quality>, seconds: f64) -> String {
    let mut line = format!("{name:<24} {rows:>7} {:>8.3} {:>8.3} {:>8.3}", q.roc_auc, q.pr_auc, q.best_f1);
    if let Some(b) = b {
        line.push_str(&format!(" | {:>8.3} {:>8.3} {:>8.3}", b.roc_auc, b.pr_auc, b.best_f1));
    }
    line.push_str(&format!(" {seconds:>8.1}"));
    line
}

/// `benchmark`: the quality table on stdout (a line per series as it finishes), JSON optionally.
pub fn command(data: &Path, params_file: Option<&Path>, baseline: bool, json: Option<&Path>) -> Result<()> {
    let params = match params_file {
        Some(p) => Params::load(p)?,
        None => Params::default(),
    };
    let mut out = std::io::stdout().lock();
    let mut first = true;
    let mut print = |r: &SeriesResult| {
        if std::mem::take(&mut first) {
            let _ = writeln!(out, "{}", header(baseline));
        }
        let _ = writeln!(out, "{}", line(r));
    };
    let report = run(data, &params, baseline, &mut print)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", mean_line(&report))?;
    if let Some(path) = json {
        let mut bytes = serde_json::to_vec_pretty(&report)?;
        bytes.push(b'\n');
        atomic_file::write(path, &bytes, atomic_file::Durability::Fast)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
