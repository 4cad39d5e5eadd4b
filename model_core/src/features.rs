//! Frame -> model inputs: standardisation with training statistics and sliding windows.
//!
//! A model sees either one row (`window.length == 1`) or `length` consecutive rows flattened
//! row-major (`window × features`). Training and serving both go through [`FeatureSpec::inputs`],
//! so the two can never disagree about the layout.

use serde::{Deserialize, Serialize};

use crate::data::Frame;
use crate::error::DataError;

/// Per-feature mean and standard deviation from the training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Scaler {
    /// Fits on all rows. A constant column gets std 1 so it standardises to 0 instead of NaN.
    pub fn fit(frame: &Frame) -> Scaler {
        let d = frame.n_cols();
        let n = frame.n_rows.max(1) as f64;
        let mut mean = vec![0.0; d];
        for i in 0..frame.n_rows {
            for (m, v) in mean.iter_mut().zip(frame.row(i)) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; d];
        for i in 0..frame.n_rows {
            for ((s, v), m) in var.iter_mut().zip(frame.row(i)).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        let std = var.iter().map(|s| (s / n).sqrt()).map(|s| if s > 1e-12 { s } else { 1.0 }).collect();
        Scaler { mean, std }
    }

    /// Fits median and interquartile range (divided by 1.349, the IQR of a unit normal, so it
    /// matches the standard deviation on normal data): outliers in the training rows do not
    /// widen the scale of everything else. A column whose IQR is 0 (constant, or mostly one
    /// value) falls back to its standard deviation, and a constant one to 1.
    pub fn fit_robust(frame: &Frame) -> Scaler {
        let standard = Scaler::fit(frame);
        let d = frame.n_cols();
        let mut mean = Vec::with_capacity(d);
        let mut std = Vec::with_capacity(d);
        for j in 0..d {
            let mut column = frame.column(j);
            column.sort_by(f64::total_cmp);
            let q = |p: f64| crate::threshold::quantile_sorted(&column, p);
            mean.push(q(0.5));
            let iqr = (q(0.75) - q(0.25)) / 1.349;
            std.push(if iqr > 1e-12 && iqr.is_finite() { iqr } else { standard.std[j] });
        }
        Scaler { mean, std }
    }

    /// Standardised copy of the frame's values, as f32 (the model's precision).
    pub fn transform(&self, frame: &Frame) -> Vec<f32> {
        debug_assert_eq!((self.mean.len(), self.std.len()), (frame.n_cols(), frame.n_cols()));
        let mut out = Vec::with_capacity(frame.values.len());
        // Row by row rather than `k % d` per value: an integer division per value cost more than
        // the arithmetic itself.
        for row in frame.values.chunks_exact(frame.n_cols().max(1)) {
            out.extend(row.iter().zip(&self.mean).zip(&self.std).map(|((v, m), s)| ((v - m) / s) as f32));
        }
        out
    }
}

/// Sliding-window layout of the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Rows per model input; 1 means row-by-row scoring.
    pub length: usize,
    /// Step between training windows. Scoring always uses stride 1 so every row is covered.
    pub stride: usize,
}

impl Window {
    pub const ROWS: Window = Window { length: 1, stride: 1 };

    pub fn is_rows(&self) -> bool {
        self.length <= 1
    }
}

/// Everything needed to turn a frame into model inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    pub features: Vec<String>,
    pub window: Window,
    pub scaler: Scaler,
}

/// Model inputs: `n` rows of `dim` values, plus the first frame row of each input.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub values: Vec<f32>,
    pub n: usize,
    pub dim: usize,
    pub starts: Vec<usize>,
}

impl FeatureSpec {
    pub fn input_dim(&self) -> usize {
        self.features.len() * self.window.length.max(1)
    }

    /// Standardises and windows `frame` (whose columns must be `self.features`, in order).
    /// `stride` overrides the window stride (scoring passes 1).
    pub fn inputs(&self, frame: &Frame, source: &str, stride: usize) -> Result<Inputs, DataError> {
        inputs(&self.scaler, self.window, frame, source, stride)
    }
}

/// [`FeatureSpec::inputs`] from its parts: scoring holds them in the model's metadata and would
/// otherwise copy every feature name into a spec per request.
pub fn inputs(
    scaler: &Scaler,
    window: Window,
    frame: &Frame,
    source: &str,
    stride: usize,
) -> Result<Inputs, DataError> {
    let len = window.length.max(1);
    if frame.n_rows < len {
        return Err(DataError::TooFewRows { input: source.to_string(), rows: frame.n_rows, window: len });
    }
    let std = scaler.transform(frame);
    if len == 1 && stride <= 1 {
        // Row by row: the standardised rows are the inputs, no copy needed.
        return Ok(Inputs { values: std, n: frame.n_rows, dim: frame.n_cols(), starts: (0..frame.n_rows).collect() });
    }
    Ok(window_values(&std, frame.n_rows, frame.n_cols(), len, stride.max(1)))
}

/// Flattens `len` consecutive rows (row-major) starting every `stride` rows.
pub fn window_values(std: &[f32], n_rows: usize, d: usize, len: usize, stride: usize) -> Inputs {
    if len == 1 && stride == 1 {
        return Inputs { values: std.to_vec(), n: n_rows, dim: d, starts: (0..n_rows).collect() };
    }
    let starts: Vec<usize> = (0..=n_rows - len).step_by(stride).collect();
    let dim = len * d;
    let mut values = Vec::with_capacity(starts.len() * dim);
    for &s in &starts {
        values.extend_from_slice(&std[s * d..(s + len) * d]);
    }
    Inputs { values, n: starts.len(), dim, starts }
}

/// How a point covered by several windows gets its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PointAggregation {
    #[default]
    Max,
    Mean,
}

/// Spreads window scores back onto the rows each window covers, so every row has a score.
pub fn scores_per_row(
    window_scores: &[f32],
    starts: &[usize],
    len: usize,
    n_rows: usize,
    agg: PointAggregation,
) -> Vec<f32> {
    if len <= 1 {
        return window_scores.to_vec();
    }
    let mut out = vec![f32::NEG_INFINITY; n_rows];
    let mut sum = vec![0.0f64; n_rows];
    let mut count = vec![0u32; n_rows];
    for (&s, &score) in starts.iter().zip(window_scores) {
        for r in s..(s + len).min(n_rows) {
            out[r] = out[r].max(score);
            sum[r] += score as f64;
            count[r] += 1;
        }
    }
    match agg {
        // Window scores are finite (see `forward::finite_score`); only a row no window covers
        // keeps NEG_INFINITY, and scores 0.
        PointAggregation::Max => out.iter().map(|v| if *v == f32::NEG_INFINITY { 0.0 } else { *v }).collect(),
        PointAggregation::Mean => {
            sum.iter().zip(&count).map(|(s, c)| if *c > 0 { (*s / *c as f64) as f32 } else { 0.0 }).collect()
        }
    }
}
