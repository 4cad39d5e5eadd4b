//! Scoring: frame -> standardised inputs -> reconstruction error -> one score per input row,
//! compared with the stored threshold.

use serde::Serialize;

use crate::artifact::Model;
use crate::data::{Columns, Frame, read_csv_bytes};
use crate::error::DataError;
use crate::features::{inputs, scores_per_row};

/// Scores of every input row and which of them are anomalous.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// One score per input row (per point for windowed series).
    pub scores: Vec<f32>,
    pub threshold: f64,
    /// Indices of rows whose score is above the threshold.
    pub anomalies: Vec<usize>,
}

impl Scores {
    pub fn flags(&self) -> Vec<bool> {
        self.scores.iter().map(|s| f64::from(*s) > self.threshold).collect()
    }
}

impl Model {
    /// Scores a frame whose columns are the model's features in order.
    pub fn score_frame(&self, frame: &Frame, source: &str) -> Result<Scores, DataError> {
        let inputs = inputs(&self.meta.scaler, self.meta.window, frame, source, 1)?;
        let window_scores = self.network.score(&inputs.values, inputs.n);
        let scores = scores_per_row(
            &window_scores,
            &inputs.starts,
            self.meta.window.length,
            frame.n_rows,
            self.meta.point_aggregation,
        );
        let threshold = self.meta.threshold.value;
        let anomalies = scores.iter().enumerate().filter(|(_, s)| f64::from(**s) > threshold).map(|(i, _)| i).collect();
        Ok(Scores { scores, threshold, anomalies })
    }

    /// Reads CSV (columns matched by name, order free, extras ignored) and scores it.
    pub fn score_csv(&self, csv: &[u8], source: &str) -> Result<(Frame, Scores), DataError> {
        let frame = read_csv_bytes(csv, source, Columns::Named(&self.meta.features))?;
        let scores = self.score_frame(&frame, source)?;
        Ok((frame, scores))
    }
}
