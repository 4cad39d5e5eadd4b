//! How reconstruction errors become scores, fixed at training time and stored in the model
//! (`metadata.json` `scoring`): the per-feature error scale and the trailing smoothing, with
//! the functions that fit and apply them. `score` runs the whole definition.

use serde::{Deserialize, Serialize};

/// Held-out windows reconstructed at once when fitting the error scale.
const SCALE_CHUNK: usize = 4096;

/// How reconstruction errors become scores, fixed at training time and stored in the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scoring {
    /// Per feature, its typical squared reconstruction error on the held-out rows (floored, see
    /// [`feature_error_scale`]); each feature's squared error is divided by it, so one noisy
    /// channel cannot drown the others and a normal row scores about 1. Empty: plain mean
    /// squared error (format 1).
    #[serde(default)]
    pub error_scale: Vec<f64>,
    /// Each window's score is the mean of its own and the `smoothing - 1` windows before it
    /// (trailing, so a live stream can compute it too); 1 = no smoothing.
    #[serde(default = "one")]
    pub smoothing: usize,
}

fn one() -> usize {
    1
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring { error_scale: Vec::new(), smoothing: 1 }
    }
}

impl Scoring {
    /// The weight of each model input (`window` rows of the features, row-major), or `None`
    /// for the plain mean squared error.
    pub fn input_weights(&self, window: usize) -> Option<Vec<f64>> {
        if self.error_scale.is_empty() {
            return None;
        }
        let per_feature: Vec<f64> = self.error_scale.iter().map(|e| 1.0 / e).collect();
        Some(per_feature.iter().copied().cycle().take(per_feature.len() * window.max(1)).collect())
    }
}

/// A feature's scale never falls below this share of the median feature's scale. At 1 (the
/// measured best: docs/quality.md), channels noisier than the median are weighed down to it and
/// none is weighed up: a channel that was constant or perfectly predicted on the held-out rows
/// (error ~0) would otherwise turn any rounding-level deviation into a huge score, and a smooth
/// but drifting one (a temperature) would raise false alarms.
pub const ERROR_SCALE_FLOOR: f64 = 1.0;
/// Absolute floor, for a model whose every feature reconstructs (almost) perfectly.
const ERROR_SCALE_MIN: f64 = 1e-12;

/// Median of a chi-square variable with one degree of freedom: the median squared error of
/// Gaussian errors is this share of their mean squared error.
const CHI2_1_MEDIAN: f64 = 0.454_936_423_119_572_8;
/// At most this many squared errors are kept to take their medians (16 MB of f32): beyond it,
/// evenly spaced held-out windows stand for all of them.
const SCALE_MAX_VALUES: usize = 1 << 22;

/// Per-feature typical squared reconstruction error of `n` held-out inputs (`window` rows of
/// `n_features` each), floored as [`ERROR_SCALE_FLOOR`] says: the `error_scale` of [`Scoring`].
///
/// The typical error is the median squared error divided by [`CHI2_1_MEDIAN`], a robust
/// estimate of the mean squared error: it equals the mean for Gaussian errors (so a normal row
/// still scores about 1), but an anomaly or a shift left in the held-out rows, which inflates a
/// feature's mean error and would weigh that feature down, barely moves it. Measured in
/// docs/quality.md: the mean cost SKAB PR-AUC 0.02, the median none elsewhere.
pub fn feature_error_scale(
    network: &crate::forward::LeanNetwork,
    inputs: &[f32],
    n: usize,
    n_features: usize,
) -> Vec<f64> {
    let dim = network.input_dim();
    let n_features = n_features.max(1);
    // Deterministic subsample of windows when there are too many to keep every error.
    let step = (n.saturating_mul(dim) / SCALE_MAX_VALUES).max(1);
    let picked: Vec<usize> = (0..n).step_by(step).collect();
    let mut errors: Vec<Vec<f32>> = vec![Vec::with_capacity(picked.len() * (dim / n_features).max(1)); n_features];
    let mut batch = Vec::new();
    for chunk in picked.chunks(SCALE_CHUNK) {
        batch.clear();
        for &w in chunk {
            batch.extend_from_slice(&inputs[w * dim..(w + 1) * dim]);
        }
        let y = network.reconstruct(&batch, chunk.len());
        for (k, (a, b)) in batch.iter().zip(&y).enumerate() {
            let diff = f64::from(*a) - f64::from(*b);
            errors[k % n_features].push((diff * diff) as f32);
        }
    }
    let typical: Vec<f64> = errors
        .iter_mut()
        .map(|e| {
            e.sort_by(f32::total_cmp);
            let sorted: Vec<f64> = e.iter().map(|v| f64::from(*v)).collect();
            crate::threshold::quantile_sorted(&sorted, 0.5) / CHI2_1_MEDIAN
        })
        .collect();
    let mut sorted: Vec<f64> = typical.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let median = crate::threshold::quantile_sorted(&sorted, 0.5);
    let floor = (median * ERROR_SCALE_FLOOR).max(ERROR_SCALE_MIN);
    typical.iter().map(|v| if v.is_finite() { v.max(floor) } else { floor }).collect()
}

/// Trailing mean over `k` window scores (fewer at the start), summed afresh for each window in
/// f64: a running sum would carry the rounding of a huge score (up to `f32::MAX`) long after it
/// left the window, and a stream could not reproduce it bit for bit.
pub fn smooth_trailing(scores: &[f32], k: usize) -> Vec<f32> {
    if k <= 1 {
        return scores.to_vec();
    }
    (0..scores.len()).map(|i| trailing_mean(&scores[(i + 1).saturating_sub(k)..=i])).collect()
}

/// The smoothed score of the last window of `span` (it and the windows before it, at most
/// `smoothing` in all): what a stream computes from the raw scores it kept.
pub fn trailing_mean(span: &[f32]) -> f32 {
    let sum: f64 = span.iter().map(|s| f64::from(*s)).sum();
    crate::forward::finite_score(sum / span.len().max(1) as f64)
}
