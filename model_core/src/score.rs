//! Scoring, the one definition every path uses (`evaluate`, `score`, `/compute`, engine tasks):
//! frame -> scaled windows -> reconstruction error per window, each feature's squared error
//! divided by its typical held-out error -> trailing mean over `smoothing` windows -> one score
//! per row (max or mean of the windows covering it) -> compared with the stored threshold.
//!
//! Format-1 models carry no [`Scoring`]: its default (no per-feature scale, no smoothing) is the
//! plain mean squared error they were calibrated on, so they score exactly as before.

use serde::Serialize;

use crate::artifact::{Detector, Model};
use crate::data::{Columns, Frame, read_csv_bytes};
use crate::error::DataError;
use crate::features::PointAggregation;
use crate::forward::SGEMM_MIN_ROWS;
pub use crate::scoring::{ERROR_SCALE_FLOOR, Scoring, feature_error_scale, smooth_trailing, trailing_mean};

/// Scores of every input row and which of them are anomalous.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// One score per input row (per point for windowed series).
    pub scores: Vec<f32>,
    /// NaN for a model set's scores, whose groups each have their own.
    pub threshold: f64,
    /// Indices of rows whose score is above the threshold (their group's, in a set).
    pub anomalies: Vec<usize>,
}

impl Scores {
    /// Whether each row is anomalous (in `anomalies`).
    pub fn flags(&self) -> Vec<bool> {
        let mut flags = vec![false; self.scores.len()];
        for &row in &self.anomalies {
            if let Some(flag) = flags.get_mut(row) {
                *flag = true;
            }
        }
        flags
    }
}

/// Windows scored at once. The window matrix and the network's activations exist for one chunk
/// at a time (a few hundred kilobytes), never for the whole input: a 60 MB CSV has 1.6 million
/// windows, whose matrix alone would be 150 MB with 4-row windows, and as much again per layer.
/// Large enough that sgemm's packing and the per-chunk setup stay a small share of the work.
pub const CHUNK_WINDOWS: usize = 4096;

impl Model {
    /// Scores a frame whose columns are the model's features in order, [`CHUNK_WINDOWS`] windows
    /// at a time.
    pub fn score_frame(&self, frame: &Frame, source: &str) -> Result<Scores, DataError> {
        self.score_frame_chunked(frame, source, CHUNK_WINDOWS)
    }

    /// [`Model::score_frame`] with `chunk` windows at a time; public so tests can hold small
    /// chunks equal to one chunk of everything (the result does not depend on `chunk`, which
    /// counts as at least sgemm's minimum batch).
    pub fn score_frame_chunked(&self, frame: &Frame, source: &str, chunk: usize) -> Result<Scores, DataError> {
        let len = self.meta.window.length.max(1);
        let window_scores = self.window_scores_chunked(frame, source, chunk)?;
        let scores = if len == 1 {
            window_scores
        } else {
            per_row(&window_scores, len, frame.n_rows, self.meta.point_aggregation)
        };
        let threshold = self.meta.threshold.value;
        let anomalies = scores.iter().enumerate().filter(|(_, s)| f64::from(**s) > threshold).map(|(i, _)| i).collect();
        Ok(Scores { scores, threshold, anomalies })
    }

    /// The score of each window of `frame` (stride 1: window `i` holds rows `i..i + length`),
    /// smoothed as the model says, before rows are given the scores of the windows covering
    /// them: what a stream gives the reading at row `i + length - 1`, the window ending there.
    pub fn window_scores(&self, frame: &Frame, source: &str) -> Result<Vec<f32>, DataError> {
        self.window_scores_chunked(frame, source, CHUNK_WINDOWS)
    }

    fn window_scores_chunked(&self, frame: &Frame, source: &str, chunk: usize) -> Result<Vec<f32>, DataError> {
        let len = self.meta.window.length.max(1);
        if frame.n_rows < len {
            return Err(DataError::TooFewRows { input: source.to_string(), rows: frame.n_rows, window: len });
        }
        let d = frame.n_cols();
        let n_windows = frame.n_rows - len + 1;
        // Never under sgemm's minimum batch: below it the per-row loops round differently.
        let chunk = chunk.max(SGEMM_MIN_ROWS);
        let weights = self.meta.scoring.input_weights(len);
        let mut window_scores = Vec::with_capacity(n_windows);
        let mut std = Vec::new();
        let mut windows = Vec::new();
        let mut first = 0;
        while first < n_windows {
            // A last chunk too small for sgemm is scored with the one before it: the per-row
            // loops round differently, and the scores must not depend on where chunks end.
            let end = if n_windows - first < chunk.saturating_add(SGEMM_MIN_ROWS) { n_windows } else { first + chunk };
            // The rows these windows cover, standardised exactly as `Scaler::transform` does.
            std.clear();
            self.standardise(&frame.values[first * d..(end + len - 1) * d], &mut std);
            let inputs = if len == 1 {
                &std
            } else {
                windows.clear();
                for s in 0..end - first {
                    windows.extend_from_slice(&std[s * d..(s + len) * d]);
                }
                &windows
            };
            window_scores.extend(self.detect(inputs, end - first, weights.as_deref()));
            first = end;
        }
        Ok(smooth_trailing(&window_scores, self.meta.scoring.smoothing))
    }

    /// The raw scores (before smoothing) of `n` windows given as their rows' values in the
    /// model's feature order, one window after the other (`n * length * features` values): a
    /// stream's windows, from any number of sources at once. Rounds exactly as
    /// [`Model::window_scores`] does, however few windows come.
    pub fn score_windows(&self, values: &[f64], n: usize) -> Vec<f32> {
        let mut std = Vec::with_capacity(values.len().max(SGEMM_MIN_ROWS * self.input_width()));
        self.standardise(values, &mut std);
        // Padded to sgemm's minimum batch with zero windows, whose scores are dropped: below it
        // the per-row loops round differently from a whole series' scoring.
        let padded = n.max(SGEMM_MIN_ROWS);
        std.resize(padded * self.input_width(), 0.0);
        let weights = self.meta.scoring.input_weights(self.meta.window.length.max(1));
        let mut scores = self.detect(&std, padded, weights.as_deref());
        scores.truncate(n);
        scores
    }

    /// Values per model input: the window's rows times the features.
    fn input_width(&self) -> usize {
        self.meta.window.length.max(1) * self.meta.features.len()
    }

    /// Appends `values` (rows of the model's features) standardised as `Scaler::transform` does.
    fn standardise(&self, values: &[f64], out: &mut Vec<f32>) {
        let scaler = &self.meta.scaler;
        for row in values.chunks_exact(scaler.mean.len().max(1)) {
            out.extend(row.iter().zip(&scaler.mean).zip(&scaler.std).map(|((v, m), s)| ((v - m) / s) as f32));
        }
    }

    fn detect(&self, inputs: &[f32], n: usize, weights: Option<&[f64]>) -> Vec<f32> {
        match &self.detector {
            Detector::Autoencoder(network) => network.score_weighted(inputs, n, weights),
            Detector::IsolationForest(forest) => forest.score(inputs, n),
        }
    }

    /// Reads CSV (columns matched by name, order free, extras ignored) and scores it.
    pub fn score_csv(&self, csv: &[u8], source: &str) -> Result<(Frame, Scores), DataError> {
        let frame = read_csv_bytes(csv, source, Columns::Named(&self.meta.features))?;
        let scores = self.score_frame(&frame, source)?;
        Ok((frame, scores))
    }
}

/// Scores rows as they arrive, holding only what the windows still to come need, and gives
/// every row the score [`Model::score_frame`] gives it for the whole input, bit for bit: the
/// same windows detected in the same chunks, the same smoothing and the same per-row
/// aggregation. For inputs too large to hold (batch scoring of whole tables).
pub struct RowScorer<'m> {
    model: &'m Model,
    len: usize,
    d: usize,
    /// Raw rows from row `rows_base` on (row-major, `d` wide).
    rows: Vec<f64>,
    rows_base: usize,
    rows_in: usize,
    /// Windows detected so far (window `i` starts at row `i`).
    detected: usize,
    /// Raw window scores from window `raw_base` on (smoothing needs the last `smoothing - 1`).
    raw: Vec<f32>,
    raw_base: usize,
    /// Smoothed window scores from window `smoothed_base` on (rows need the last `len - 1`).
    smoothed: Vec<f32>,
    smoothed_base: usize,
    /// The next row to be given its score.
    next_row: usize,
    std: Vec<f32>,
    windows: Vec<f32>,
}

impl<'m> RowScorer<'m> {
    pub fn new(model: &'m Model) -> Self {
        RowScorer {
            model,
            len: model.meta.window.length.max(1),
            d: model.meta.features.len(),
            rows: Vec::new(),
            rows_base: 0,
            rows_in: 0,
            detected: 0,
            raw: Vec::new(),
            raw_base: 0,
            smoothed: Vec::new(),
            smoothed_base: 0,
            next_row: 0,
            std: Vec::new(),
            windows: Vec::new(),
        }
    }

    /// Takes `values` (whole rows of the model's features, in order) and hands `emit` the score
    /// of each row that can be scored now, in row order.
    pub fn push(&mut self, values: &[f64], emit: &mut dyn FnMut(f32)) {
        self.rows.extend_from_slice(values);
        self.rows_in += values.len() / self.d.max(1);
        self.advance(emit);
    }

    /// [`RowScorer::push`] for a reader that appends whole rows straight to the scorer's own
    /// buffer, saving a copy of every value: `fill` appends to the vector it is given. When it
    /// gives `None`, what it appended is taken back and nothing is scored.
    pub fn push_with<T>(
        &mut self,
        fill: impl FnOnce(&mut Vec<f64>) -> Option<T>,
        emit: &mut dyn FnMut(f32),
    ) -> Option<T> {
        let before = self.rows.len();
        let Some(value) = fill(&mut self.rows) else {
            self.rows.truncate(before);
            return None;
        };
        self.rows_in += (self.rows.len() - before) / self.d.max(1);
        self.advance(emit);
        Some(value)
    }

    /// Detects the chunks that can be detected now and emits the rows they complete.
    fn advance(&mut self, emit: &mut dyn FnMut(f32)) {
        // As `window_scores_chunked`: a chunk is detected once more than a chunk and sgemm's
        // minimum remain, so the chunks end where they end for the whole input.
        while self.startable().saturating_sub(self.detected) >= CHUNK_WINDOWS + SGEMM_MIN_ROWS {
            self.detect_next(CHUNK_WINDOWS);
        }
        self.emit_rows(self.detected, emit);
    }

    /// Scores the rest; fails as [`Model::score_frame`] does on an input shorter than a window.
    pub fn finish(mut self, source: &str, emit: &mut dyn FnMut(f32)) -> Result<usize, DataError> {
        if self.rows_in < self.len {
            return Err(DataError::TooFewRows { input: source.to_string(), rows: self.rows_in, window: self.len });
        }
        let rest = self.startable() - self.detected;
        if rest > 0 {
            self.detect_next(rest);
        }
        self.emit_rows(self.rows_in, emit);
        Ok(self.rows_in)
    }

    /// Windows whose rows have all arrived.
    fn startable(&self) -> usize {
        (self.rows_in + 1).saturating_sub(self.len)
    }

    fn detect_next(&mut self, n: usize) {
        let (len, d, first) = (self.len, self.d, self.detected);
        let from = (first - self.rows_base) * d;
        self.std.clear();
        self.model.standardise(&self.rows[from..from + (n + len - 1) * d], &mut self.std);
        let inputs = if len == 1 {
            &self.std
        } else {
            self.windows.clear();
            for s in 0..n {
                self.windows.extend_from_slice(&self.std[s * d..(s + len) * d]);
            }
            &self.windows
        };
        let weights = self.model.meta.scoring.input_weights(len);
        self.raw.extend(self.model.detect(inputs, n, weights.as_deref()));
        let k = self.model.meta.scoring.smoothing.max(1);
        for w in first..first + n {
            let span = &self.raw[(w + 1).saturating_sub(k).max(self.raw_base) - self.raw_base..=w - self.raw_base];
            self.smoothed.push(if k <= 1 { span[span.len() - 1] } else { trailing_mean(span) });
        }
        self.detected += n;
        // Keep only what later windows need: their rows and the scores smoothing looks back on.
        drop_front(&mut self.rows, &mut self.rows_base, self.detected, d);
        drop_front(&mut self.raw, &mut self.raw_base, (self.detected + 1).saturating_sub(k), 1);
    }

    /// Gives rows `next_row..upto` their scores.
    fn emit_rows(&mut self, upto: usize, emit: &mut dyn FnMut(f32)) {
        let last = self.detected.saturating_sub(1);
        let agg = self.model.meta.point_aggregation;
        for r in self.next_row..upto {
            let lo = (r + 1).saturating_sub(self.len) - self.smoothed_base;
            let covering = &self.smoothed[lo..=r.min(last) - self.smoothed_base];
            emit(if self.len == 1 { covering[0] } else { aggregate(covering, agg) });
        }
        self.next_row = self.next_row.max(upto);
        drop_front(&mut self.smoothed, &mut self.smoothed_base, (self.next_row + 1).saturating_sub(self.len), 1);
    }
}

/// Drops the items of `buf` (each `width` values, the first at index `base`) before `keep_from`,
/// once that is at least half of it, so the copying stays linear in what passes through.
fn drop_front<T>(buf: &mut Vec<T>, base: &mut usize, keep_from: usize, width: usize) {
    let drop = keep_from.saturating_sub(*base);
    if drop > 0 && drop * width * 2 >= buf.len() {
        buf.drain(..drop * width);
        *base += drop;
    }
}

/// One row's score from the windows covering it, in `per_row`'s order and arithmetic.
fn aggregate(covering: &[f32], agg: PointAggregation) -> f32 {
    match agg {
        PointAggregation::Max => covering.iter().fold(f32::NEG_INFINITY, |m, s| m.max(*s)),
        PointAggregation::Mean => {
            let sum = covering.iter().fold(0.0f64, |sum, s| sum + f64::from(*s));
            (sum / covering.len() as f64) as f32
        }
    }
}

/// [`crate::features::scores_per_row`] for stride-1 windows, without its three per-row
/// accumulators: row `r` is covered by the windows starting at `r + 1 - len ..= r`, read here
/// in the same order, so max and the f64 sum of the mean come out bit for bit the same.
fn per_row(window_scores: &[f32], len: usize, n_rows: usize, agg: PointAggregation) -> Vec<f32> {
    let last = window_scores.len().saturating_sub(1);
    (0..n_rows).map(|r| aggregate(&window_scores[(r + 1).saturating_sub(len)..=r.min(last)], agg)).collect()
}
