//! Per-feature explanation of a score: which features made a row anomalous. The one definition
//! `/compute`, engine task outputs and streaming use.
//!
//! An autoencoder's window score is a sum over its inputs of weighted squared errors divided by
//! the input count (`score`), so it splits exactly by feature: a feature's share of a window is
//! its inputs' terms summed over the window's rows. A row's shares come from the windows that
//! gave it its score, the way [`crate::score`] aggregates them: with max aggregation the
//! highest-scoring window covering the row, with mean aggregation the mean over the covering
//! windows (and, with trailing smoothing, each window's shares are the mean over the windows it
//! smooths). So a row's shares sum to its score, up to float rounding. The observed value is the
//! row's own, the reconstructed value the network's output at the row's position in those
//! windows (averaged like the shares), both in the feature's original units.
//!
//! Only the windows covering the rows asked for are reconstructed again, a block of rows at a
//! time: explaining the few anomalous rows of a large request costs little beside scoring it.

use crate::artifact::{Detector, Model};
use crate::data::Frame;
use crate::features::PointAggregation;

/// Rows explained per block: bounds the windows reconstructed at once.
const BLOCK_ROWS: usize = 256;

/// One feature's part in a row's score.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureShare {
    /// Index into the model's `features`.
    pub feature: usize,
    /// This feature's part of the row's score (the parts of all features sum to the score).
    pub share: f64,
    /// The row's value, in the feature's units.
    pub observed: f64,
    /// The model's reconstruction of it, in the feature's units.
    pub reconstructed: f64,
}

/// The features with the largest shares of one row's score, largest first.
#[derive(Debug, Clone, PartialEq)]
pub struct RowExplanation {
    pub row: usize,
    pub features: Vec<FeatureShare>,
}

impl Model {
    /// True when this kind of model splits its scores by feature (an Isolation Forest's path
    /// lengths do not).
    pub fn explains(&self) -> bool {
        matches!(self.detector, Detector::Autoencoder(_))
    }

    /// The `top` largest feature shares of each row in `rows` (ascending row indices of `frame`,
    /// as scored by [`Model::score_frame`]; others are skipped), or `None` when the model's kind
    /// has no per-feature explanation.
    pub fn explain(&self, frame: &Frame, rows: &[usize], top: usize) -> Option<Vec<RowExplanation>> {
        let Detector::Autoencoder(network) = &self.detector else { return None };
        let len = self.meta.window.length.max(1);
        let d = frame.n_cols();
        if frame.n_rows < len || d == 0 {
            return Some(Vec::new());
        }
        let n_windows = frame.n_rows - len + 1;
        let smoothing = self.meta.scoring.smoothing.max(1);
        let dim = len * d;
        let weights = self.meta.scoring.input_weights(len).unwrap_or_else(|| vec![1.0; dim]);
        let scaler = &self.meta.scaler;
        let rows: Vec<usize> = rows.iter().copied().filter(|&r| r < frame.n_rows).collect();
        let mut out = Vec::with_capacity(rows.len());
        for block in rows.chunks(BLOCK_ROWS) {
            // The windows these rows need: those covering them and those their smoothing reads,
            // ascending and each once.
            let mut needed: Vec<usize> = Vec::new();
            for &r in block {
                let first = covering(r, len, n_windows).0.saturating_sub(smoothing - 1);
                let last = covering(r, len, n_windows).1;
                let from = needed.last().map_or(first, |&w| first.max(w + 1));
                needed.extend(from..=last);
            }
            let mut inputs = Vec::with_capacity(needed.len() * dim);
            for &w in &needed {
                for row in frame.values[w * d..(w + len) * d].chunks_exact(d) {
                    inputs
                        .extend(row.iter().zip(&scaler.mean).zip(&scaler.std).map(|((v, m), s)| ((v - m) / s) as f32));
                }
            }
            let outputs = network.reconstruct(&inputs, needed.len());
            // Each needed window's per-feature terms, as `score_weighted` sums them.
            // (Loops by window, position and feature: an index divided per value cost more than
            // the sums themselves.)
            let mut terms = vec![0.0f64; needed.len() * d];
            for ((xw, yw), t) in inputs.chunks_exact(dim).zip(outputs.chunks_exact(dim)).zip(terms.chunks_exact_mut(d))
            {
                for ((xr, yr), wr) in xw.chunks_exact(d).zip(yw.chunks_exact(d)).zip(weights.chunks_exact(d)) {
                    for (((t, x), y), w) in t.iter_mut().zip(xr).zip(yr).zip(wr) {
                        let diff = f64::from(*x) - f64::from(*y);
                        *t += diff * diff * w / dim as f64;
                    }
                }
            }
            let at = |w: usize| needed.binary_search(&w).ok();
            // A window's shares after trailing smoothing, into `sum`: the mean over the windows
            // it smooths.
            let smoothed = |w: usize, sum: &mut [f64]| {
                sum.fill(0.0);
                let mut span = 0usize;
                for i in ((w + 1).saturating_sub(smoothing)..=w).filter_map(at) {
                    sum.iter_mut().zip(&terms[i * d..(i + 1) * d]).for_each(|(s, t)| *s += t);
                    span += 1;
                }
                sum.iter_mut().for_each(|s| *s /= span.max(1) as f64);
            };
            let mut window = vec![0.0f64; d];
            let mut shares = vec![0.0f64; d];
            let mut recon = vec![0.0f64; d];
            for &r in block {
                let (lo, hi) = covering(r, len, n_windows);
                let chosen = match self.meta.point_aggregation {
                    // The first highest-scoring window, as `per_row`'s max keeps it.
                    PointAggregation::Max if len > 1 => {
                        let mut best = (lo, f64::NEG_INFINITY);
                        for w in lo..=hi {
                            smoothed(w, &mut window);
                            let score: f64 = window.iter().sum();
                            if score > best.1 {
                                best = (w, score);
                            }
                        }
                        best.0..=best.0
                    }
                    _ => lo..=hi,
                };
                shares.fill(0.0);
                recon.fill(0.0);
                let n = chosen.clone().count().max(1) as f64;
                for w in chosen {
                    smoothed(w, &mut window);
                    shares.iter_mut().zip(&window).for_each(|(s, v)| *s += v);
                    if let Some(i) = at(w) {
                        let position = (i * len + (r - w)) * d;
                        recon.iter_mut().zip(&outputs[position..position + d]).for_each(|(s, v)| *s += f64::from(*v));
                    }
                }
                let features = largest(&shares, top)
                    .into_iter()
                    .map(|f| FeatureShare {
                        feature: f,
                        // As scores are: an error too large to write becomes the largest f32.
                        share: finite_share(shares[f] / n),
                        observed: frame.values[r * d + f],
                        reconstructed: recon[f] / n * scaler.std[f] + scaler.mean[f],
                    })
                    .collect();
                out.push(RowExplanation { row: r, features });
            }
        }
        Some(out)
    }
}

/// A run of consecutive explained rows (`start..end`) and the feature with the largest share of
/// their scores summed over the run: what a plot marks as the cause of an anomalous segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentCause {
    pub start: usize,
    pub end: usize,
    /// Index into the model's `features`.
    pub feature: usize,
}

/// The segments of `explanations` (ascending rows, for instance the anomalous ones), each with
/// its leading feature among the features the rows name.
pub fn segment_causes(explanations: &[RowExplanation]) -> Vec<SegmentCause> {
    let mut causes = Vec::new();
    let mut i = 0;
    while i < explanations.len() {
        let start = explanations[i].row;
        let mut j = i + 1;
        while j < explanations.len() && explanations[j].row == explanations[j - 1].row + 1 {
            j += 1;
        }
        let mut totals: Vec<(usize, f64)> = Vec::new();
        for share in explanations[i..j].iter().flat_map(|e| &e.features) {
            match totals.iter_mut().find(|(f, _)| *f == share.feature) {
                Some((_, total)) => *total += share.share,
                None => totals.push((share.feature, share.share)),
            }
        }
        // Ties go to the lower feature index, so the plot does not depend on row order.
        let best = totals.iter().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        if let Some(&(feature, _)) = best {
            causes.push(SegmentCause { start, end: explanations[j - 1].row + 1, feature });
        }
        i = j;
    }
    causes
}

/// The indices of the `top` largest of `shares`, largest first, ties to the lower index: the
/// first `top` of a sort by share, picked without sorting them all (`top` is a few of dozens).
fn largest(shares: &[f64], top: usize) -> Vec<usize> {
    let mut picked: Vec<usize> = Vec::with_capacity(top.min(shares.len()));
    while picked.len() < top.min(shares.len()) {
        let mut best: Option<usize> = None;
        for (f, share) in shares.iter().enumerate() {
            // Strictly larger only: an equal share keeps the lower index already held.
            if !picked.contains(&f) && best.is_none_or(|b| share.total_cmp(&shares[b]).is_gt()) {
                best = Some(f);
            }
        }
        picked.extend(best);
    }
    picked
}

fn finite_share(share: f64) -> f64 {
    if share.is_finite() { share } else { f64::from(f32::MAX) }
}

/// The first and last window covering row `r` (stride-1 windows of `len` rows, `n_windows` of
/// them): windows starting at `r + 1 - len ..= r`, clamped to those that exist.
fn covering(r: usize, len: usize, n_windows: usize) -> (usize, usize) {
    ((r + 1).saturating_sub(len).min(n_windows - 1), r.min(n_windows - 1))
}

#[cfg(test)]
mod tests {
    use super::largest;

    #[test]
    fn the_largest_shares_come_as_a_sort_by_share_would_give_them() {
        let shares = [0.5, 2.0, f64::NAN, 2.0, -1.0, 0.0, -0.0, 7.5, f64::INFINITY, 0.5];
        let mut sorted: Vec<usize> = (0..shares.len()).collect();
        sorted.sort_by(|a, b| shares[*b].total_cmp(&shares[*a]).then(a.cmp(b)));
        for top in 0..=shares.len() + 2 {
            assert_eq!(largest(&shares, top), sorted[..top.min(shares.len())], "top {top}");
        }
    }
}
