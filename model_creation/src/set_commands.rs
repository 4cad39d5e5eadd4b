//! `score` and `evaluate` with a model set (`data.group_by`): each row is scored by its group's
//! model (`model_core::model_set`), anomalies are rows above their own group's threshold, and
//! `evaluate` reports every group's metrics beside the overall ones.
//!
//! The overall ROC-AUC and PR-AUC rank rows of different groups against each other, whose raw
//! scores are on their own models' scales: they are computed on each score divided by its
//! group's threshold (1.0 is every group's threshold), so a row's rank says how far above or
//! below its own threshold it is. Precision, recall and F1 are the flags' as served.

use std::path::Path;

use anyhow::{Context, Result};
use model_core::data::{Columns, Groups, read_csv_grouped_file};
use model_core::metrics::evaluate as evaluate_metrics;
use model_core::plot::anomalies_png;
use model_core::{Frame, ModelSet, Scores, SetScores};

use crate::commands::{print_metrics, read_labels, score_statistics, write_atomic, write_scores_csv};

/// Reads `data` with its group column and scores it with the set in `dir`.
fn score_data(dir: &Path, data: &Path) -> Result<(ModelSet, Frame, Groups, SetScores)> {
    let set = ModelSet::load(dir)?;
    let manifest = &set.manifest;
    let (frame, groups) = read_csv_grouped_file(data, Columns::Named(&manifest.features), &manifest.group_by)?;
    let scored = set.score(&frame, &groups, &data.display().to_string())?;
    Ok((set, frame, groups, scored))
}

/// `score --model SET`: `score,anomaly` per row, each by its group's model.
pub fn score(dir: &Path, data: &Path, out: &Path) -> Result<()> {
    let (set, _, _, scored) = score_data(dir, data)?;
    let (scores, groups) = scored.split();
    write_scores_csv(out, &scores)?;
    eprintln!(
        "scored {} rows with model set {} ({} groups): {} above their group's threshold; wrote {}",
        scores.scores.len(),
        set.manifest.version,
        groups.len(),
        scores.anomalies.len(),
        out.display()
    );
    for g in &groups {
        eprintln!(
            "  {}={:<12} {:>7} rows  {:>5} anomalies  threshold {:.5}{}",
            set.manifest.group_by,
            g.group,
            g.rows.len(),
            g.anomalies,
            g.threshold,
            if g.fallback { "  (fallback model)" } else { "" }
        );
    }
    Ok(())
}

/// `evaluate --model SET`: scores.csv, metrics.json (overall, then `groups`: each group's) and
/// result.png.
pub fn evaluate(dir: &Path, data: &Path, labels: Option<&Path>, out: &Path) -> Result<()> {
    let (set, frame, groups, scored) = score_data(dir, data)?;
    let relative = scored.relative();
    let (scores, scored_groups) = scored.split();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_scores_csv(&out.join("scores.csv"), &scores)?;
    let labels = labels.map(|l| read_labels(l, frame.n_rows)).transpose()?;
    let mut metrics = match &labels {
        Some(labels) => {
            let m = evaluate_metrics(&relative, labels, 1.0);
            eprint!("overall (scores relative to their group's threshold): ");
            print_metrics(&m);
            serde_json::to_value(&m)?
        }
        None => {
            let mut json = score_statistics(&Scores { scores: relative.clone(), ..scores.clone() });
            json["threshold"] = 1.0.into();
            json
        }
    };
    metrics["scores"] = "relative to each group's threshold".into();
    let mut per_group = serde_json::Map::new();
    for g in &scored_groups {
        let s: Vec<f32> = g.rows.iter().map(|&r| scores.scores[r]).collect();
        let mut json = match &labels {
            Some(labels) => {
                let l: Vec<bool> = g.rows.iter().map(|&r| labels[r]).collect();
                let m = evaluate_metrics(&s, &l, g.threshold);
                eprint!("  {}={}: ", set.manifest.group_by, g.group);
                print_metrics(&m);
                serde_json::to_value(&m)?
            }
            None => {
                let anomalies = (0..s.len()).filter(|&i| f64::from(s[i]) > g.threshold).collect();
                score_statistics(&Scores { scores: s, threshold: g.threshold, anomalies })
            }
        };
        json["model_version"] = g.version.clone().into();
        json["fallback"] = g.fallback.into();
        per_group.insert(g.group.clone(), json);
    }
    metrics["group_by"] = set.manifest.group_by.clone().into();
    metrics["model_set"] = set.manifest.version.clone().into();
    metrics["groups"] = per_group.into();
    let mut json = serde_json::to_vec_pretty(&metrics)?;
    json.push(b'\n');
    write_atomic(&out.join("metrics.json"), &json)?;

    let columns: Vec<Vec<f64>> = (0..frame.n_cols()).map(|j| frame.column(j)).collect();
    let causes =
        set.explain(&frame, &groups, &scores.anomalies, 3)?.map(|e| model_core::segment_causes(&e)).unwrap_or_default();
    // Relative scores, so one red line (1.0) is every group's threshold.
    let png = anomalies_png(&frame.columns, &columns, &relative, 1.0, &scores.flags(), &causes)?;
    write_atomic(&out.join("result.png"), &png)?;
    eprintln!(
        "evaluated {} rows of {} groups with model set {}: {} above their group's threshold; wrote scores.csv, \
         metrics.json and result.png to {}",
        frame.n_rows,
        scored_groups.len(),
        set.manifest.version,
        scores.anomalies.len(),
        out.display()
    );
    Ok(())
}
