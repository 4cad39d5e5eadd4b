//! Input drift: each feature's training distribution, stored in the model (`metadata.json`
//! `reference`), and the population stability index (PSI) of recent inputs against it.
//!
//! The bins are the training data's deciles: ten bins split at the nine inner decile values,
//! with the share of training rows that fell in each (about 0.1 each, more where values repeat).
//! PSI = sum over bins of (current - reference) * ln(current / reference), with empty bins
//! counted as [`PSI_FLOOR`] so a bin nobody visits does not make it infinite. The usual reading:
//! below [`PSI_STABLE`] stable, above [`PSI_SHIFTED`] shifted.

use serde::{Deserialize, Serialize};

use crate::data::Frame;

/// Bins per feature: the training deciles.
pub const DRIFT_BINS: usize = 10;
/// Below this PSI a feature reads as stable.
pub const PSI_STABLE: f64 = 0.1;
/// Above this PSI a feature reads as shifted (in between: moderate).
pub const PSI_SHIFTED: f64 = 0.25;
/// Share an empty bin counts as in the PSI sum.
pub const PSI_FLOOR: f64 = 1e-4;

/// One feature's training distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureReference {
    /// The nine inner decile values: bin `k` holds values in `(edges[k-1], edges[k]]`, the first
    /// bin everything up to `edges[0]`, the last everything above `edges[8]`.
    pub edges: Vec<f64>,
    /// Share of the training rows in each bin (sums to 1).
    pub shares: Vec<f64>,
    /// The training range: values outside it are counted apart.
    pub min: f64,
    pub max: f64,
}

impl FeatureReference {
    /// The bin of `v`: how many edges lie below it (NaN, which inputs never hold, falls in the
    /// first). Counted without branches: nine compares beat a binary search's mispredictions.
    pub fn bin(&self, v: f64) -> usize {
        self.edges.iter().map(|e| usize::from(*e < v)).sum()
    }

    pub fn out_of_range(&self, v: f64) -> bool {
        v < self.min || v > self.max
    }

    /// Whether the stored shape is one this build can use (nine edges in order, ten shares).
    pub fn is_valid(&self) -> bool {
        self.edges.len() == DRIFT_BINS - 1
            && self.shares.len() == DRIFT_BINS
            && self.edges.windows(2).all(|w| w[0] <= w[1])
            && self.edges.iter().chain(&self.shares).chain([&self.min, &self.max]).all(|v| v.is_finite())
    }
}

/// The training distribution of every column of `frame`.
pub fn reference(frame: &Frame) -> Vec<FeatureReference> {
    (0..frame.n_cols())
        .map(|j| {
            let mut column = frame.column(j);
            column.retain(|v| v.is_finite());
            column.sort_by(f64::total_cmp);
            let edges: Vec<f64> = (1..DRIFT_BINS)
                .map(|k| crate::threshold::quantile_sorted(&column, k as f64 / DRIFT_BINS as f64))
                .collect();
            let mut reference = FeatureReference {
                edges,
                shares: vec![0.0; DRIFT_BINS],
                min: column.first().copied().unwrap_or(0.0),
                max: column.last().copied().unwrap_or(0.0),
            };
            let mut counts = [0usize; DRIFT_BINS];
            for v in &column {
                counts[reference.bin(*v)] += 1;
            }
            let n = column.len().max(1) as f64;
            reference.shares = counts.iter().map(|c| *c as f64 / n).collect();
            reference
        })
        .collect()
}

/// Marks a value outside the training range in [`bin_rows`]' bytes (the bin is in the low bits).
pub const OUTSIDE: u8 = 0x80;

/// One byte per value of `values` (rows of `references.len()` features): the value's bin, with
/// [`OUTSIDE`] set when it lies outside the training range. What a drift window keeps.
pub fn bin_rows(references: &[FeatureReference], values: &[f64]) -> Vec<u8> {
    let d = references.len().max(1);
    let mut bytes = Vec::with_capacity(values.len());
    for row in values.chunks_exact(d) {
        bytes.extend(row.iter().zip(references).map(|(v, r)| {
            // At most DRIFT_BINS - 1 = 9: fits below the OUTSIDE bit.
            r.bin(*v) as u8 | if r.out_of_range(*v) { OUTSIDE } else { 0 }
        }));
    }
    bytes
}

/// The population stability index of `current` bin shares against `reference` ones.
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(r, c)| {
            let (r, c) = (r.max(PSI_FLOOR), c.max(PSI_FLOOR));
            (c - r) * (c / r).ln()
        })
        .sum()
}

/// The usual reading of a PSI value.
pub fn reading(psi: f64) -> &'static str {
    if psi < PSI_STABLE {
        "stable"
    } else if psi > PSI_SHIFTED {
        "shifted"
    } else {
        "moderate"
    }
}
