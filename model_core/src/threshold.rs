//! Choosing the anomaly threshold from scores of held-out training rows.

use serde::{Deserialize, Serialize};

/// How the threshold is derived from held-out scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum ThresholdMethod {
    /// The `q` quantile of held-out scores (linear interpolation, as numpy's default).
    Quantile { q: f64 },
    /// `mean + k * std` of held-out scores.
    MeanStd { k: f64 },
    /// The largest held-out score times `factor`.
    Max { factor: f64 },
}

impl Default for ThresholdMethod {
    fn default() -> Self {
        ThresholdMethod::Quantile { q: 0.99 }
    }
}

/// The stored threshold and how it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub value: f64,
    #[serde(flatten)]
    pub method: ThresholdMethod,
    /// How many held-out scores it was calibrated on.
    pub calibration_scores: usize,
}

impl ThresholdMethod {
    pub fn calibrate(&self, scores: &[f32]) -> Threshold {
        let mut s: Vec<f64> = scores.iter().map(|v| *v as f64).collect();
        s.sort_by(f64::total_cmp);
        let value = match *self {
            ThresholdMethod::Quantile { q } => quantile_sorted(&s, q),
            ThresholdMethod::MeanStd { k } => {
                let n = s.len().max(1) as f64;
                let mean = s.iter().sum::<f64>() / n;
                let var = s.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
                mean + k * var.sqrt()
            }
            ThresholdMethod::Max { factor } => s.last().copied().unwrap_or(0.0) * factor,
        };
        Threshold { value, method: *self, calibration_scores: s.len() }
    }
}

/// Quantile of sorted values with linear interpolation between closest ranks.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = pos.ceil() as usize;
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        }
    }
}
