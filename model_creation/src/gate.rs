//! The promotion gate: both models scored on the same data, and the rule that says whether the
//! candidate may replace the champion. With labels, ROC-AUC and PR-AUC each at least the
//! champion's minus the tolerance (and above optional floors); without labels, the false-alarm
//! rate at the model's own threshold on the given (normal) data at most the champion's plus the
//! tolerance. Stored metrics are never compared: they may come from different data.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use model_core::Artifact;
use model_core::data::{Columns, read_csv_file, read_csv_grouped_file};
use serde::Serialize;

/// What a model achieves on the gate's data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    pub rows: usize,
    /// Fraction of rows above the model's own threshold.
    pub flagged_rate: f64,
    /// With labels holding both classes only.
    pub roc_auc: Option<f64>,
    /// With labels holding both classes only (average precision).
    pub pr_auc: Option<f64>,
}

/// A model's or model set's figures: overall, and for a set each group of the data as the
/// model that scored it did (a set's overall figures rank each score relative to its group's
/// threshold).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    #[serde(flatten)]
    pub overall: Figures,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, Figures>,
}

/// The gate's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateOptions {
    pub tolerance: f64,
    pub min_roc_auc: Option<f64>,
    pub min_pr_auc: Option<f64>,
}

/// The gate's verdict and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub promote: bool,
    /// One line per rule checked, saying whether it held.
    pub reasons: Vec<String>,
}

/// Scores `artifact` on the CSV `data` (its own feature columns, and a set's group column) and
/// measures it, against `labels` when given (one per data row).
pub fn measure(artifact: &Artifact, data: &Path, labels: Option<&[bool]>) -> Result<Measured> {
    let source = data.display().to_string();
    let (name, _) = artifact.name_version();
    let scoring = || format!("scoring {source} with {name}");
    match artifact {
        Artifact::Single(model) => {
            let frame = read_csv_file(data, Columns::Named(&model.meta.features))?;
            let scores = model.score_frame(&frame, &source).with_context(scoring)?;
            Ok(Measured { overall: figures(&scores.scores, scores.threshold, labels), groups: BTreeMap::new() })
        }
        Artifact::Set(set) => {
            let m = &set.manifest;
            let (frame, groups) = read_csv_grouped_file(data, Columns::Named(&m.features), &m.group_by)?;
            let scored = set.score(&frame, &groups, &source).with_context(scoring)?;
            let mut by_group = BTreeMap::new();
            for g in &scored.groups {
                let scores: Vec<f32> = g.rows.iter().map(|&r| scored.scores[r]).collect();
                let labels: Option<Vec<bool>> = labels.map(|l| g.rows.iter().map(|&r| l[r]).collect());
                by_group.insert(g.group.clone(), figures(&scores, g.threshold, labels.as_deref()));
            }
            Ok(Measured { overall: figures(&scored.relative(), 1.0, labels), groups: by_group })
        }
    }
}

/// The figures of `scores` flagged above `threshold`; ROC-AUC and PR-AUC only when the labels
/// hold both normal and anomalous rows (otherwise they say nothing about the ranking).
fn figures(scores: &[f32], threshold: f64, labels: Option<&[bool]>) -> Figures {
    let rows = scores.len();
    let flagged = scores.iter().filter(|s| f64::from(**s) > threshold).count();
    let flagged_rate = if rows == 0 { 0.0 } else { flagged as f64 / rows as f64 };
    let (roc_auc, pr_auc) = match labels {
        Some(labels) if labels.iter().any(|l| *l) && labels.iter().any(|l| !*l) => {
            let m = model_core::metrics::evaluate(scores, labels, threshold);
            (Some(m.roc_auc), Some(m.pr_auc))
        }
        _ => (None, None),
    };
    Figures { rows, flagged_rate, roc_auc, pr_auc }
}

/// Whether `candidate` may replace `champion` (measured on the same data, with or without
/// labels alike); with no champion, only the floors apply. Between two sets, every group of the
/// data both scored must pass the same rule on its own rows.
pub fn decide(candidate: &Measured, champion: Option<&Measured>, opts: &GateOptions) -> Decision {
    let mut reasons = Vec::new();
    let mut promote = true;
    let mut check = |ok: bool, text: String| {
        promote &= ok;
        reasons.push(format!("{} {text}", if ok { "ok:  " } else { "FAIL:" }));
    };
    let cand = &candidate.overall;
    if let Some(champ) = champion {
        compare(&mut check, cand, &champ.overall, opts.tolerance, "");
        for (group, figures) in &candidate.groups {
            if let Some(theirs) = champ.groups.get(group) {
                compare(&mut check, figures, theirs, opts.tolerance, &format!("group {group}: "));
            }
        }
    }
    if let Some((roc, pr)) = cand.roc_auc.zip(cand.pr_auc) {
        if let Some(floor) = opts.min_roc_auc {
            check(roc >= floor, format!("ROC-AUC {roc:.4} >= floor {floor}"));
        }
        if let Some(floor) = opts.min_pr_auc {
            check(pr >= floor, format!("PR-AUC {pr:.4} >= floor {floor}"));
        }
    }
    if champion.is_none() {
        reasons.push("no champion yet: the first candidate is promoted".into());
    }
    Decision { promote, reasons }
}

/// One rule: ROC-AUC and PR-AUC each at least the champion's minus the tolerance where both
/// have them, otherwise the false-alarm rate at most the champion's plus the tolerance.
fn compare(check: &mut dyn FnMut(bool, String), cand: &Figures, champ: &Figures, tol: f64, what: &str) {
    match (cand.roc_auc.zip(cand.pr_auc), champ.roc_auc.zip(champ.pr_auc)) {
        (Some((roc, pr)), Some((c_roc, c_pr))) => {
            check(roc >= c_roc - tol, format!("{what}ROC-AUC {roc:.4} >= champion {c_roc:.4} - tolerance {tol}"));
            check(pr >= c_pr - tol, format!("{what}PR-AUC {pr:.4} >= champion {c_pr:.4} - tolerance {tol}"));
        }
        _ => {
            let (c, f) = (cand.flagged_rate, champ.flagged_rate);
            check(c <= f + tol, format!("{what}false-alarm rate {c:.4} <= champion {f:.4} + tolerance {tol}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(roc: f64, pr: f64) -> Measured {
        Measured {
            overall: Figures { rows: 100, flagged_rate: 0.01, roc_auc: Some(roc), pr_auc: Some(pr) },
            groups: BTreeMap::new(),
        }
    }

    fn unlabelled(rate: f64) -> Measured {
        Measured {
            overall: Figures { rows: 100, flagged_rate: rate, roc_auc: None, pr_auc: None },
            groups: BTreeMap::new(),
        }
    }

    fn with_groups(mut m: Measured, groups: &[(&str, Measured)]) -> Measured {
        m.groups = groups.iter().map(|(g, f)| (g.to_string(), f.overall)).collect();
        m
    }

    #[test]
    fn between_sets_every_group_both_scored_must_pass() {
        let champ = with_groups(labelled(0.90, 0.80), &[("m01", labelled(0.9, 0.8)), ("m02", unlabelled(0.02))]);
        let fine = with_groups(labelled(0.91, 0.80), &[("m01", labelled(0.9, 0.8)), ("m02", unlabelled(0.02))]);
        assert!(decide(&fine, Some(&champ), &OPTS).promote);
        // Better overall, but one machine's model got worse: refused, naming the machine.
        let m01_worse = with_groups(labelled(0.95, 0.9), &[("m01", labelled(0.7, 0.8)), ("m02", unlabelled(0.02))]);
        let d = decide(&m01_worse, Some(&champ), &OPTS);
        assert!(!d.promote && d.reasons.iter().any(|r| r.starts_with("FAIL: group m01: ROC-AUC")), "{d:?}");
        // Without anomalies in a group's rows, its false alarms decide.
        let m02_noisy = with_groups(labelled(0.91, 0.8), &[("m01", labelled(0.9, 0.8)), ("m02", unlabelled(0.2))]);
        let d = decide(&m02_noisy, Some(&champ), &OPTS);
        assert!(!d.promote && d.reasons.iter().any(|r| r.starts_with("FAIL: group m02: false-alarm")), "{d:?}");
        // A group only the candidate scores has nothing to compare with.
        let new_group = with_groups(labelled(0.91, 0.8), &[("m09", labelled(0.1, 0.1))]);
        assert!(decide(&new_group, Some(&champ), &OPTS).promote);
    }

    const OPTS: GateOptions = GateOptions { tolerance: 0.01, min_roc_auc: None, min_pr_auc: None };

    #[test]
    fn labelled_gate_allows_the_tolerance_and_no_more() {
        let champ = labelled(0.90, 0.80);
        assert!(decide(&labelled(0.895, 0.795), Some(&champ), &OPTS).promote);
        assert!(!decide(&labelled(0.88, 0.85), Some(&champ), &OPTS).promote, "ROC-AUC too low");
        assert!(!decide(&labelled(0.95, 0.78), Some(&champ), &OPTS).promote, "PR-AUC too low");
        let floors = GateOptions { min_roc_auc: Some(0.99), ..OPTS };
        assert!(!decide(&labelled(0.95, 0.90), Some(&champ), &floors).promote, "under the floor");
    }

    #[test]
    fn unlabelled_gate_compares_false_alarms() {
        let champ = unlabelled(0.02);
        assert!(decide(&unlabelled(0.025), Some(&champ), &OPTS).promote);
        assert!(!decide(&unlabelled(0.05), Some(&champ), &OPTS).promote);
    }

    #[test]
    fn first_candidate_is_promoted_unless_under_a_floor() {
        let d = decide(&unlabelled(0.5), None, &OPTS);
        assert!(d.promote && d.reasons.iter().any(|r| r.contains("no champion")), "{d:?}");
        let floors = GateOptions { min_pr_auc: Some(0.9), ..OPTS };
        assert!(!decide(&labelled(0.95, 0.5), None, &floors).promote);
    }
}
