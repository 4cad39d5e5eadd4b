//! Detection quality per input row: ROC-AUC, PR-AUC (average precision as scikit-learn
//! computes it), best F1 over all thresholds, and the confusion figures at the stored threshold.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub rows: usize,
    pub positives: usize,
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub best_f1: f64,
    pub best_f1_threshold: f64,
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub fpr: f64,
    pub fnr: f64,
}

/// All metrics for `scores` against 0/1 `labels` at `threshold` (score > threshold is anomalous).
pub fn evaluate(scores: &[f32], labels: &[bool], threshold: f64) -> Metrics {
    let s: Vec<f64> = scores.iter().map(|v| f64::from(*v)).collect();
    let (tp, fp, fneg, tn) = confusion(&s, labels, threshold);
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fneg);
    let (best_f1, best_f1_threshold) = best_f1(&s, labels);
    Metrics {
        rows: s.len(),
        positives: labels.iter().filter(|l| **l).count(),
        roc_auc: roc_auc(&s, labels),
        pr_auc: average_precision(&s, labels),
        best_f1,
        best_f1_threshold,
        threshold,
        precision,
        recall,
        f1: f1(precision, recall),
        fpr: ratio(fp, fp + tn),
        fnr: ratio(fneg, fneg + tp),
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
}

fn confusion(s: &[f64], labels: &[bool], threshold: f64) -> (usize, usize, usize, usize) {
    let (mut tp, mut fp, mut fneg, mut tn) = (0, 0, 0, 0);
    for (v, l) in s.iter().zip(labels) {
        match (*v > threshold, *l) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            (false, false) => tn += 1,
        }
    }
    (tp, fp, fneg, tn)
}

/// Mann-Whitney U with average ranks for ties; 0.5 when one class is absent.
pub fn roc_auc(s: &[f64], labels: &[bool]) -> f64 {
    let pos = labels.iter().filter(|l| **l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return 0.5;
    }
    let mut idx: Vec<usize> = (0..s.len()).collect();
    idx.sort_by(|&a, &b| s[a].total_cmp(&s[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && s[idx[j + 1]] == s[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += avg_rank * idx[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    (rank_sum_pos - (pos * (pos + 1)) as f64 / 2.0) / (pos as f64 * neg as f64)
}

/// Walks distinct thresholds from the highest score down, yielding (threshold, tp, fp).
fn descending_steps(s: &[f64], labels: &[bool]) -> Vec<(f64, usize, usize)> {
    let mut idx: Vec<usize> = (0..s.len()).collect();
    idx.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
    let mut steps = Vec::new();
    let (mut tp, mut fp) = (0, 0);
    let mut i = 0;
    while i < idx.len() {
        let t = s[idx[i]];
        while i < idx.len() && s[idx[i]] == t {
            if labels[idx[i]] {
                tp += 1
            } else {
                fp += 1
            }
            i += 1;
        }
        steps.push((t, tp, fp));
    }
    steps
}

/// Average precision: sum over thresholds of (R_n - R_{n-1}) * P_n, as sklearn.
pub fn average_precision(s: &[f64], labels: &[bool]) -> f64 {
    let pos = labels.iter().filter(|l| **l).count();
    if pos == 0 {
        return 0.0;
    }
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for (_, tp, fp) in descending_steps(s, labels) {
        let recall = tp as f64 / pos as f64;
        ap += (recall - prev_recall) * ratio(tp, tp + fp);
        prev_recall = recall;
    }
    ap
}

/// Best F1 over every distinct threshold, and the score at which it is reached (score >= t).
pub fn best_f1(s: &[f64], labels: &[bool]) -> (f64, f64) {
    let pos = labels.iter().filter(|l| **l).count();
    let mut best = (0.0, f64::INFINITY);
    for (t, tp, fp) in descending_steps(s, labels) {
        let v = f1(ratio(tp, tp + fp), ratio(tp, pos));
        if v > best.0 {
            best = (v, t);
        }
    }
    best
}
