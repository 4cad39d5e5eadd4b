//! Scoring with the loaded model, off the async executor. Knows nothing of HTTP: the transport
//! layer and the engine worker both hand it an [`Input`] and get [`Scores`] or a [`DataError`].
//!
//! Parsing and scoring run on tokio's blocking pool, so a 10,000-row request never holds an
//! executor thread that small requests, health probes and metrics scrapes need.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use model_core::{DataError, Frame, Model, Scores};
use serde::Serialize;
use utoipa::ToSchema;

/// What the caller sends, already split by shape; CSV is parsed on the blocking pool.
#[derive(Debug)]
pub enum Input {
    /// CSV with a header; columns matched to the model's features by name.
    Csv(Bytes),
    /// Rows whose values are in the model's feature order.
    Rows(Vec<Vec<f64>>),
    /// Named columns; extra columns are ignored.
    Columns(HashMap<String, Vec<f64>>),
}

/// Scores plus the feature columns they were computed from (the engine worker plots them).
#[derive(Debug)]
pub struct Scored {
    pub frame: Frame,
    pub scores: Scores,
}

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error(transparent)]
    Data(#[from] DataError),
    /// The blocking task panicked or was cancelled; the service keeps running.
    #[error("scoring failed unexpectedly: {0}")]
    Internal(String),
}

/// Scores of one input as the service reports them, on `/compute` and in engine task outputs.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"model": "ae-anomaly-detection", "model_version": "20261123-1", "threshold": 0.85,
    "rows": 3, "scores": [0.12, 0.09, 3.4], "anomalies": [2], "anomaly_count": 1}))]
pub struct Report {
    /// Model name from its metadata.
    pub model: String,
    pub model_version: String,
    /// Rows scoring above this are anomalous.
    pub threshold: f64,
    /// Number of input rows (= number of scores).
    pub rows: usize,
    /// Mean squared reconstruction error per input row (per point for windowed series), in
    /// standardised units.
    pub scores: Vec<f32>,
    /// Indices (0-based, data rows only) of rows above the threshold.
    pub anomalies: Vec<usize>,
    pub anomaly_count: usize,
}

/// The loaded model and where it came from.
#[derive(Debug, Clone)]
pub struct Scorer {
    model: Arc<Model>,
    source: String,
}

impl Scorer {
    pub fn new(model: Model, source: String) -> Scorer {
        Scorer { model: Arc::new(model), source }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// MODEL_PATH or MODEL_URI the model was loaded from.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn report(&self, scores: Scores) -> Report {
        let meta = &self.model.meta;
        Report {
            model: meta.name.clone(),
            model_version: meta.version.clone(),
            threshold: scores.threshold,
            rows: scores.scores.len(),
            anomaly_count: scores.anomalies.len(),
            anomalies: scores.anomalies,
            scores: scores.scores,
        }
    }

    /// Scores on the calling thread. `input_name` names the input in error messages.
    pub fn score_blocking(&self, input: Input, input_name: &str) -> Result<Scored, DataError> {
        let frame = match input {
            Input::Csv(bytes) => {
                let (frame, scores) = self.model.score_csv(&bytes[..], input_name)?;
                return Ok(Scored { frame, scores });
            }
            Input::Rows(rows) => Frame::from_rows(&rows, &self.model.meta.features, input_name)?,
            Input::Columns(columns) => Frame::from_columns(&columns, &self.model.meta.features, input_name)?,
        };
        let scores = self.model.score_frame(&frame, input_name)?;
        Ok(Scored { frame, scores })
    }

    /// Scores on the blocking pool.
    pub async fn score(&self, input: Input, input_name: String) -> Result<Scored, InferenceError> {
        let scorer = self.clone();
        run_blocking(move || scorer.score_blocking(input, &input_name).map_err(InferenceError::from)).await
    }
}

/// Runs CPU-bound work on the blocking pool and returns its result; a panic in it becomes an
/// error for this one request instead of taking the service down.
pub async fn run_blocking<T, F>(work: F) -> Result<T, InferenceError>
where
    F: FnOnce() -> Result<T, InferenceError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => Err(InferenceError::Internal(e.to_string())),
    }
}
