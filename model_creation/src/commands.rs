//! The ML commands (`simulate`, `train`, `evaluate`, `score`): argument handling, files in and
//! out, and user-facing messages. The work itself is in `train`, `simulate` and model_core.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use model_core::data::{Columns, file_md5, read_csv_file};
use model_core::metrics::{Metrics, evaluate as evaluate_metrics};
use model_core::plot::{anomalies_with_baseline_png, training_loss_png};
use model_core::{Model, Scores};

use crate::params::Params;
use crate::simulate::{SimulateOptions, generate, write};
use crate::train::{DataInfo, train as train_model};

/// `simulate`: one machine (the default), or a fleet of `machines` with a `machine` column, the
/// `faulty` one (1-based; 0: none; default: the last) carrying every anomaly.
pub fn simulate(out: &Path, seed: u64, machines: usize, faulty: Option<usize>) -> Result<()> {
    if machines == 0 {
        bail!("--machines must be at least 1");
    }
    if machines > 1 || faulty.is_some() {
        let faulty = faulty.unwrap_or(machines);
        if faulty > machines {
            bail!("--faulty {faulty}: there are only {machines} machines (m01..m{machines:02}); 0 means none");
        }
        let defaults = SimulateOptions::default();
        let fleet = crate::simulate::generate_fleet(&crate::simulate::FleetOptions {
            seed,
            machines,
            faulty: (faulty > 0).then_some(faulty),
            train_rows: defaults.train_rows,
            test_rows: defaults.test_rows,
        });
        crate::simulate::write_fleet(out, &fleet, defaults.train_rows)
            .with_context(|| format!("writing the simulated fleet into {}", out.display()))?;
        let anomalous: usize = fleet.iter().map(|m| m.labels.iter().filter(|l| **l == 1).count()).sum();
        eprintln!(
            "wrote {machines} machines x ({} training + {} test rows), {anomalous} anomalous rows on {} to {}",
            defaults.train_rows,
            defaults.test_rows,
            if faulty > 0 { format!("m{faulty:02}") } else { "no machine".into() },
            out.display()
        );
        return Ok(());
    }
    let opts = SimulateOptions { seed, ..SimulateOptions::default() };
    let ds = generate(&opts);
    write(out, &ds, &opts).with_context(|| format!("writing the simulated dataset into {}", out.display()))?;
    eprintln!(
        "wrote {} training rows, {} test rows ({} anomalous, {} injected anomalies) to {}",
        ds.train.len(),
        ds.test.len(),
        ds.labels.iter().filter(|l| **l == 1).count(),
        ds.anomalies.len(),
        out.display()
    );
    Ok(())
}

/// The training CSV's feature columns as `params.data` selects them, and its identity.
pub fn read_training_data(data: &Path, params: &Params) -> Result<(model_core::Frame, DataInfo)> {
    let frame = if params.data.features.is_empty() {
        read_csv_file(data, Columns::AllExcept(&params.data.ignore))?
    } else {
        read_csv_file(data, Columns::Named(&params.data.features))?
    };
    let info = data_info(data, &frame)?;
    Ok((frame, info))
}

/// What the model records of its training table: its md5, and the columns it left out.
fn data_info(data: &Path, frame: &model_core::Frame) -> Result<DataInfo> {
    let header = read_header(data)?;
    let ignored: Vec<String> = header.into_iter().filter(|c| !frame.columns.contains(c)).collect();
    Ok(DataInfo { md5: file_md5(data)?, ignored_columns: ignored })
}

/// Which detector `train` fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// The dense autoencoder (the default).
    Autoencoder,
    /// An Isolation Forest (scikit-learn's algorithm), servable like the autoencoder.
    Iforest,
}

/// `train` with parameters already loaded (and overridden: `experiment::train`).
pub fn train_with(data: &Path, out: &Path, params: &Params, plots: &Path, kind: Kind) -> Result<()> {
    train_groups(data, out, params, plots, kind, &crate::train::groups::Selection::All)
}

/// [`train_with`], training only the `selection` of the groups when `data.group_by` is set.
pub fn train_groups(
    data: &Path,
    out: &Path,
    params: &Params,
    plots: &Path,
    kind: Kind,
    selection: &crate::train::groups::Selection,
) -> Result<()> {
    if params.data.group_by.is_none() && *selection != crate::train::groups::Selection::All {
        bail!("--group and --shard choose groups of data.group_by, which is not set");
    }
    if let Some(column) = &params.data.group_by {
        if kind == Kind::Iforest {
            bail!("data.group_by trains autoencoders only; an Isolation Forest per group is not supported yet");
        }
        let table = read_grouped_training_data(data, params, column)?;
        return crate::train::groups::train_set(&table, data, out, params, plots, selection);
    }
    let (frame, info) = read_training_data(data, params)?;
    if kind == Kind::Iforest {
        return train_iforest(data, out, params, plots, frame, info);
    }
    eprintln!(
        "training on {} rows x {} features {:?} from {}",
        frame.n_rows,
        frame.n_cols(),
        frame.columns,
        data.display()
    );
    let bar = indicatif::ProgressBar::new(params.train.epochs as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let mut progress = |epoch: usize, _epochs: usize, loss: f64, val: f64| {
        bar.set_position(epoch as u64);
        bar.set_message(format!("loss {loss:.5} val {val:.5}"));
    };
    let mut model = train_model(&frame, info, params, &data.display().to_string(), &mut progress)?;
    bar.finish_and_clear();
    model.save(out).with_context(|| format!("saving the model to {}", out.display()))?;
    let t = &model.meta.training;
    let png = training_loss_png(&t.train_loss, &t.val_loss)?;
    write_atomic(&plots.join("training_loss.png"), &png)?;
    eprintln!(
        "trained {} epochs in {:.1}s (best epoch {}, train loss {:.5}, validation loss {:.5}); threshold {:.5} ({:?}); model {} written to {}",
        t.epochs_run,
        started.elapsed().as_secs_f64(),
        t.best_epoch,
        t.final_train_loss,
        t.final_val_loss,
        model.meta.threshold.value,
        model.meta.threshold.method,
        model.meta.version,
        out.display()
    );
    Ok(())
}

fn train_iforest(
    data: &Path,
    out: &Path,
    params: &Params,
    plots: &Path,
    frame: model_core::Frame,
    info: DataInfo,
) -> Result<()> {
    let started = std::time::Instant::now();
    let mut model = crate::train::forest::train_forest(&frame, info, params, &data.display().to_string())?;
    model.save(out).with_context(|| format!("saving the model to {}", out.display()))?;
    // No loss curve for a forest; the (empty) plot keeps a pipeline's declared outputs complete.
    write_atomic(&plots.join("training_loss.png"), &training_loss_png(&[], &[])?)?;
    eprintln!(
        "fitted an Isolation Forest ({} trees of {} rows) on {} rows x {} features in {:.1}s; threshold {:.5}; model {} written to {}",
        params.forest.n_estimators,
        params.forest.max_samples.min(frame.n_rows),
        frame.n_rows,
        frame.n_cols(),
        started.elapsed().as_secs_f64(),
        model.meta.threshold.value,
        model.meta.version,
        out.display()
    );
    Ok(())
}

/// The training table with each row's group from `column` (never a feature).
fn read_grouped_training_data(data: &Path, params: &Params, column: &str) -> Result<crate::train::groups::Grouped> {
    let mut ignore = params.data.ignore.clone();
    ignore.push(column.to_string());
    let columns = if params.data.features.is_empty() {
        Columns::AllExcept(&ignore)
    } else {
        Columns::Named(&params.data.features)
    };
    let (frame, groups) = model_core::data::read_csv_grouped_file(data, columns, column)?;
    let info = data_info(data, &frame)?;
    Ok(crate::train::groups::Grouped { frame, groups, info })
}

fn read_header(path: &Path) -> Result<Vec<String>> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(rdr.headers()?.iter().map(str::to_string).collect())
}

fn load_model(dir: &Path) -> Result<Model> {
    Ok(Model::load(dir)?)
}

pub fn score_file(model: &Model, data: &Path) -> Result<(model_core::Frame, Scores)> {
    let frame = read_csv_file(data, Columns::Named(&model.meta.features))?;
    let scores = model.score_frame(&frame, &data.display().to_string())?;
    Ok((frame, scores))
}

/// Writes an output file atomically (readers never see half a PNG or CSV); reports and plots
/// can be made again, so they are not flushed to the disk.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_file::write(path, bytes, atomic_file::Durability::Fast)
        .with_context(|| format!("writing {}", path.display()))
}

/// The header of a scores CSV (`score` and `batch-score` write the same file).
pub const SCORES_HEADER: &str = "score,anomaly\n";

/// One row of a scores CSV: the score, and 1 when it is above the threshold.
pub fn write_score_row(w: &mut impl std::io::Write, score: f32, threshold: f64) -> std::io::Result<()> {
    write_score_flag(w, score, f64::from(score) > threshold)
}

/// One row of a scores CSV: the score in the fewest digits that read back to the same f32, never
/// with an exponent (as Rust's `Display` writes it), and the anomaly flag. zmij finds those digits
/// several times faster than `Display`. Its spelling differs by a trailing `.0` (dropped here)
/// and by exponents (tiny or huge scores, rare: `Display` writes those); and where the f32 lies
/// exactly halfway between two equally short spellings, zmij may take the other one, which
/// reads back to the same f32 all the same.
fn write_score_flag(w: &mut impl std::io::Write, score: f32, anomalous: bool) -> std::io::Result<()> {
    let mut digits = zmij::Buffer::new();
    let text = if score.is_finite() { digits.format_finite(score) } else { "e" };
    if text.contains('e') {
        return writeln!(w, "{score},{}", u8::from(anomalous));
    }
    w.write_all(text.strip_suffix(".0").unwrap_or(text).as_bytes())?;
    w.write_all(if anomalous { b",1\n" } else { b",0\n" })
}

/// Writes `scores.csv`: each row's score and whether it is anomalous (in `anomalies`: above
/// its threshold, or its group's in a model set).
pub(crate) fn write_scores_csv(path: &Path, scores: &Scores) -> Result<()> {
    let mut text = Vec::with_capacity(scores.scores.len() * 16);
    text.extend_from_slice(SCORES_HEADER.as_bytes());
    for (s, flag) in scores.scores.iter().zip(scores.flags()) {
        write_score_flag(&mut text, *s, flag)?;
    }
    write_atomic(path, &text)?;
    Ok(())
}

pub fn score(model_dir: &Path, data: &Path, out: &Path) -> Result<()> {
    let model = load_model(model_dir)?;
    let (_, scores) = score_file(&model, data)?;
    write_scores_csv(out, &scores)?;
    eprintln!(
        "scored {} rows: {} above threshold {:.5}; wrote {}",
        scores.scores.len(),
        scores.anomalies.len(),
        scores.threshold,
        out.display()
    );
    Ok(())
}

/// Reads a labels CSV: a `label` column of 0/1, one per data row.
pub fn read_labels(path: &Path, expected_rows: usize) -> Result<Vec<bool>> {
    let names = ["label".to_string()];
    let frame = read_csv_file(path, Columns::Named(&names))?;
    if frame.n_rows != expected_rows {
        bail!(
            "{}: has {} label row(s) but the data has {} row(s); expected one label per data row",
            path.display(),
            frame.n_rows,
            expected_rows
        );
    }
    frame
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| match *v {
            0.0 => Ok(false),
            1.0 => Ok(true),
            other => bail!("{}: line {}: column \"label\": {other} is not 0 or 1", path.display(), i + 2),
        })
        .collect()
}

/// `evaluate`'s baseline: an Isolation Forest fitted on the training CSV's rows.
fn baseline_scores(model: &Model, train_data: &Path, test: &model_core::Frame, data: &Path) -> Result<Scores> {
    // The model's own training parameters (same held-out tail, seed and threshold rule).
    let params: Params = serde_json::from_value(model.meta.training.params.clone()).unwrap_or_default();
    let params = crate::train::forest::baseline_params(&params);
    let frame = read_csv_file(train_data, Columns::Named(&model.meta.features))?;
    let info = DataInfo { md5: file_md5(train_data)?, ignored_columns: Vec::new() };
    let forest = crate::train::forest::train_forest(&frame, info, &params, &train_data.display().to_string())
        .with_context(|| format!("training the Isolation Forest baseline on {}", train_data.display()))?;
    Ok(forest.score_frame(test, &data.display().to_string())?)
}

/// `evaluate`: scores, metrics and the plot; with `baseline_train` (the training CSV), an
/// Isolation Forest fitted on it is scored too and reported beside the model.
pub fn evaluate(
    model_dir: &Path,
    data: &Path,
    labels: Option<&Path>,
    out: &Path,
    baseline_train: Option<&Path>,
) -> Result<()> {
    let model = load_model(model_dir)?;
    let (frame, scores) = score_file(&model, data)?;
    let baseline = baseline_train.map(|t| baseline_scores(&model, t, &frame, data)).transpose()?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_scores_csv(&out.join("scores.csv"), &scores)?;
    let flags = scores.flags();
    let mut metrics = match labels {
        Some(l) => {
            let labels = read_labels(l, frame.n_rows)?;
            let m = evaluate_metrics(&scores.scores, &labels, scores.threshold);
            print_metrics(&m);
            let mut json = serde_json::to_value(&m)?;
            if let Some(b) = &baseline {
                let bm = evaluate_metrics(&b.scores, &labels, b.threshold);
                eprint!("Isolation Forest baseline: ");
                print_metrics(&bm);
                json["baseline"] = serde_json::to_value(&bm)?;
            }
            json
        }
        None => {
            let mut json = score_statistics(&scores);
            if let Some(b) = &baseline {
                json["baseline"] = score_statistics(b);
            }
            json
        }
    };
    if let Some(b) = metrics.get_mut("baseline") {
        b["kind"] = "iforest".into();
    }
    let mut json = serde_json::to_vec_pretty(&metrics)?;
    json.push(b'\n');
    write_atomic(&out.join("metrics.json"), &json)?;
    let columns: Vec<Vec<f64>> = (0..frame.n_cols()).map(|j| frame.column(j)).collect();
    // Each anomalous segment's leading feature, marked on the plot (none for a forest).
    let causes =
        model.explain(&frame, &scores.anomalies, 3).map(|e| model_core::segment_causes(&e)).unwrap_or_default();
    let panel = baseline.as_ref().map(|b| model_core::plot::BaselinePanel {
        name: "Isolation Forest baseline",
        scores: &b.scores,
        threshold: b.threshold,
    });
    let png = anomalies_with_baseline_png(
        &frame.columns,
        &columns,
        &scores.scores,
        scores.threshold,
        &flags,
        &causes,
        panel,
    )?;
    write_atomic(&out.join("result.png"), &png)?;
    eprintln!(
        "evaluated {} rows: {} above threshold; wrote scores.csv, metrics.json and result.png to {}",
        frame.n_rows,
        scores.anomalies.len(),
        out.display()
    );
    Ok(())
}

pub(crate) fn print_metrics(m: &Metrics) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "ROC-AUC {:.3}  PR-AUC {:.3}  best F1 {:.3}  at threshold: precision {:.3} recall {:.3} F1 {:.3} FPR {:.3}",
        m.roc_auc, m.pr_auc, m.best_f1, m.precision, m.recall, m.f1, m.fpr
    );
}

pub(crate) fn score_statistics(scores: &Scores) -> serde_json::Value {
    let mut s: Vec<f64> = scores.scores.iter().map(|v| f64::from(*v)).collect();
    s.sort_by(f64::total_cmp);
    let n = s.len().max(1) as f64;
    let mean = s.iter().sum::<f64>() / n;
    let q = |p: f64| model_core::threshold::quantile_sorted(&s, p);
    serde_json::json!({
        "rows": s.len(),
        "anomalies": scores.anomalies.len(),
        "anomaly_fraction": scores.anomalies.len() as f64 / n,
        "threshold": scores.threshold,
        "score_mean": mean,
        "score_p50": q(0.5),
        "score_p99": q(0.99),
        "score_max": s.last().copied().unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::write_score_flag;

    /// The scores CSV spells every f32 as `Display` does: as few digits, no exponent, and the
    /// same f32 when read back (other tools read these files).
    #[test]
    fn scores_are_written_in_the_fewest_digits_that_read_back_exactly() {
        let mut special = vec![
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            0.5,
            10.0,
            100.0,
            1e-5,
            1e-4,
            1.5e-7,
            123456.79,
            1e15,
            1e16,
            1e17,
            f32::MAX,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::EPSILON,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        // Every binade, and pseudo-random bit patterns (xorshift) besides.
        special.extend((0..255u32).map(|e| f32::from_bits(e << 23 | 0x2a_5a5a)));
        let mut x = 0x9e37_79b9_u32;
        special.extend((0..200_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            f32::from_bits(x)
        }));
        let mut differ = 0;
        for (i, &score) in special.iter().enumerate() {
            let flag = i % 2 == 0;
            let mut ours = Vec::new();
            write_score_flag(&mut ours, score, flag).unwrap();
            let ours = String::from_utf8(ours).unwrap();
            let display = format!("{score},{}\n", u8::from(flag));
            if ours == display {
                continue;
            }
            differ += 1;
            let bits = score.to_bits();
            assert_eq!(ours.len(), display.len(), "{bits:#x}: {ours:?} is not as short as {display:?}");
            assert!(!ours.contains('e'), "{bits:#x}: {ours:?} has an exponent");
            let text = ours.split(',').next().unwrap();
            assert_eq!(text.parse::<f32>().unwrap().to_bits(), bits, "{bits:#x}: {ours:?} reads back as another f32");
        }
        // Halfway ties are rare (0.2% of these bit patterns): almost every score is spelled
        // exactly as Display spells it.
        assert!(differ < special.len() / 100, "{differ} of {} differ from Display", special.len());
    }
}
