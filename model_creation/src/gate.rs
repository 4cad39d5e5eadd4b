//! The promotion gate: both models scored on the same data, and the rule that says whether the
//! candidate may replace the champion. With labels, ROC-AUC and PR-AUC each at least the
//! champion's minus the tolerance (and above optional floors); without labels, the false-alarm
//! rate at the model's own threshold on the given (normal) data at most the champion's plus the
//! tolerance. Stored metrics are never compared: they may come from different data.

use std::path::Path;

use anyhow::{Context, Result};
use model_core::Model;
use model_core::data::{Columns, read_csv_file};
use serde::Serialize;

/// What a model achieves on the gate's data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    pub rows: usize,
    /// Fraction of rows above the model's own threshold.
    pub flagged_rate: f64,
    /// With labels only.
    pub roc_auc: Option<f64>,
    /// With labels only (average precision).
    pub pr_auc: Option<f64>,
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

/// Scores `model` on the CSV `data` (its own feature columns) and measures it, against `labels`
/// when given (one per data row).
pub fn measure(model: &Model, data: &Path, labels: Option<&[bool]>) -> Result<Figures> {
    let frame = read_csv_file(data, Columns::Named(&model.meta.features))?;
    let scores = model
        .score_frame(&frame, &data.display().to_string())
        .with_context(|| format!("scoring {} with model {}", data.display(), model.meta.name))?;
    let rows = scores.scores.len();
    let flagged = scores.flags().iter().filter(|f| **f).count();
    let flagged_rate = if rows == 0 { 0.0 } else { flagged as f64 / rows as f64 };
    let (roc_auc, pr_auc) = match labels {
        Some(labels) => {
            let m = model_core::metrics::evaluate(&scores.scores, labels, scores.threshold);
            (Some(m.roc_auc), Some(m.pr_auc))
        }
        None => (None, None),
    };
    Ok(Figures { rows, flagged_rate, roc_auc, pr_auc })
}

/// Whether `candidate` may replace `champion` (measured on the same data, with or without
/// labels alike); with no champion, only the floors apply.
pub fn decide(candidate: &Figures, champion: Option<&Figures>, opts: &GateOptions) -> Decision {
    let mut reasons = Vec::new();
    let mut promote = true;
    let mut check = |ok: bool, text: String| {
        promote &= ok;
        reasons.push(format!("{} {text}", if ok { "ok:  " } else { "FAIL:" }));
    };
    let tol = opts.tolerance;
    match (candidate.roc_auc, candidate.pr_auc) {
        (Some(roc), Some(pr)) => {
            if let Some(champ) = champion {
                let (c_roc, c_pr) = (champ.roc_auc.unwrap_or(f64::NAN), champ.pr_auc.unwrap_or(f64::NAN));
                check(roc >= c_roc - tol, format!("ROC-AUC {roc:.4} >= champion {c_roc:.4} - tolerance {tol}"));
                check(pr >= c_pr - tol, format!("PR-AUC {pr:.4} >= champion {c_pr:.4} - tolerance {tol}"));
            }
            if let Some(floor) = opts.min_roc_auc {
                check(roc >= floor, format!("ROC-AUC {roc:.4} >= floor {floor}"));
            }
            if let Some(floor) = opts.min_pr_auc {
                check(pr >= floor, format!("PR-AUC {pr:.4} >= floor {floor}"));
            }
        }
        _ => {
            if let Some(champ) = champion {
                let (c, f) = (candidate.flagged_rate, champ.flagged_rate);
                check(c <= f + tol, format!("false-alarm rate {c:.4} <= champion {f:.4} + tolerance {tol}"));
            }
        }
    }
    if champion.is_none() {
        reasons.push("no champion yet: the first candidate is promoted".into());
    }
    Decision { promote, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(roc: f64, pr: f64) -> Figures {
        Figures { rows: 100, flagged_rate: 0.01, roc_auc: Some(roc), pr_auc: Some(pr) }
    }

    fn unlabelled(rate: f64) -> Figures {
        Figures { rows: 100, flagged_rate: rate, roc_auc: None, pr_auc: None }
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
