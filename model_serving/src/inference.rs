//! Scoring with the loaded model. Knows nothing of HTTP: the transport layer and the engine
//! worker both hand it an [`Input`] and get [`Scores`] or a [`DataError`].
//!
//! Each service instance has its own [`Scorer`]: the model, the line CPU-bound jobs wait in, and
//! the counters of what was scored (rows, anomalies, queue wait, scoring time), so the HTTP
//! layer and the engine worker count the same way and two services in one process (the tests)
//! keep separate lines and counts.
//!
//! Where the work runs depends on its size. A small input (a 100-row CSV is about a tenth of a
//! millisecond of work) is scored on the executor thread that read it: handing it to another
//! thread and back would cost about as much again. A large one runs on tokio's blocking pool, so
//! a 10,000-row request never holds an executor thread that small requests, health probes and
//! metrics scrapes need. At most one such job per core runs at once and the rest wait their
//! turn: more would not finish sooner on the same cores, and each would hold its frame and
//! score buffers in memory meanwhile.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use model_core::data::read_csv_bytes;
use model_core::{Columns, DataError, Frame, Model, Scores};
use serde::Serialize;
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use crate::metrics::Metrics;

/// Inputs up to this size (CSV bytes, or 8 bytes per JSON value) are scored inline: about
/// 0.1 ms of parsing and scoring, too little to pay for a hand-off to the blocking pool and back
/// (its thread wake-ups were an eighth of the service's time in the 100-row benchmark).
pub const INLINE_MAX_BYTES: usize = 32 * 1024;

/// The line blocking jobs wait in: one permit per slot, handed out first come, first served.
#[derive(Debug)]
struct CpuSlots {
    queue: Arc<Semaphore>,
    slots: usize,
}

impl CpuSlots {
    /// True while a job runs or waits.
    fn busy(&self) -> bool {
        self.queue.available_permits() < self.slots
    }
}

/// What the caller sends, already split by shape; CSV is parsed where it is scored.
#[derive(Debug)]
pub enum Input {
    /// CSV with a header; columns matched to the model's features by name.
    Csv(Bytes),
    /// Rows whose values are in the model's feature order.
    Rows(Vec<Vec<f64>>),
    /// Named columns; extra columns are ignored.
    Columns(HashMap<String, Vec<f64>>),
}

impl Input {
    /// Rough size of the work, in CSV-text bytes (a JSON value counts as 8).
    fn work_bytes(&self) -> usize {
        match self {
            Input::Csv(bytes) => bytes.len(),
            Input::Rows(rows) => rows.iter().map(Vec::len).sum::<usize>() * 8,
            Input::Columns(columns) => columns.values().map(Vec::len).sum::<usize>() * 8,
        }
    }
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
    /// standardised units. Always finite: an error too large for f32 (a value far out of the
    /// training range) is reported as 3.4028235e38, above every threshold.
    pub scores: Vec<f32>,
    /// Indices (0-based, data rows only) of rows above the threshold.
    pub anomalies: Vec<usize>,
    pub anomaly_count: usize,
}

/// The loaded model, where it came from, the line for CPU-bound work and the scoring counters.
#[derive(Debug, Clone)]
pub struct Scorer {
    model: Arc<Model>,
    source: String,
    cpu: Arc<CpuSlots>,
    metrics: Arc<Metrics>,
}

impl Scorer {
    /// `cpu_slots` blocking jobs may run at once: one per core, since more would only share the
    /// same cores while each holds its input, frame and scores in memory.
    pub fn new(model: Model, source: String, metrics: Arc<Metrics>, cpu_slots: usize) -> Scorer {
        let slots = cpu_slots.max(1);
        let cpu = Arc::new(CpuSlots { queue: Arc::new(Semaphore::new(slots)), slots });
        Scorer { model: Arc::new(model), source, cpu, metrics }
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

    /// Scores on the calling thread, uncounted. `input_name` names the input in error messages.
    pub fn score_blocking(&self, input: Input, input_name: &str) -> Result<Scored, DataError> {
        let frame = match input {
            Input::Csv(bytes) => {
                let frame = read_csv_bytes(&bytes, input_name, Columns::Named(&self.model.meta.features))?;
                // The text is not needed once parsed: freed before scoring, a large body and the
                // scoring buffers are never in memory together.
                drop(bytes);
                frame
            }
            Input::Rows(rows) => Frame::from_rows(&rows, &self.model.meta.features, input_name)?,
            Input::Columns(columns) => Frame::from_columns(&columns, &self.model.meta.features, input_name)?,
        };
        let scores = self.model.score_frame(&frame, input_name)?;
        Ok(Scored { frame, scores })
    }

    /// Scores inline when the input is small, on the blocking pool otherwise, and counts the
    /// scoring time (parsing included, failures too) and the rows and anomalies scored.
    pub async fn score(&self, input: Input, input_name: String) -> Result<Scored, InferenceError> {
        let scorer = self.clone();
        let scored = self
            .run_sized(input.work_bytes(), move || {
                let started = Instant::now();
                let scored = scorer.score_blocking(input, &input_name);
                scorer.metrics.scoring_duration.observe(started.elapsed().as_secs_f64());
                Ok(scored?)
            })
            .await?;
        self.metrics.rows_scored.inc_by(scored.scores.scores.len() as u64);
        self.metrics.anomalies_flagged.inc_by(scored.scores.anomalies.len() as u64);
        Ok(scored)
    }

    /// Runs CPU-bound work of about `work_bytes` input bytes: inline when it is at most
    /// [`INLINE_MAX_BYTES`], else as [`Scorer::run_blocking`].
    pub async fn run_sized<T, F>(&self, work_bytes: usize, work: F) -> Result<T, InferenceError>
    where
        F: FnOnce() -> Result<T, InferenceError> + Send + 'static,
        T: Send + 'static,
    {
        if work_bytes > INLINE_MAX_BYTES {
            return self.run_blocking(work).await;
        }
        // The same promise as on the blocking pool: a panic fails this one request, not the
        // connection or the service.
        std::panic::catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| Err(panicked(panic.as_ref())))
    }

    /// Runs CPU-bound work on the blocking pool once a CPU slot is free (the wait is the queue
    /// wait histogram) and returns its result; a panic in it becomes an error for this one
    /// request instead of taking the service down.
    pub async fn run_blocking<T, F>(&self, work: F) -> Result<T, InferenceError>
    where
        F: FnOnce() -> Result<T, InferenceError> + Send + 'static,
        T: Send + 'static,
    {
        let waiting = Instant::now();
        // Never closed, so acquire cannot fail; the permit moves into the job so that a request
        // given up on (timeout, client gone) still holds its slot until its job really ends.
        let permit =
            self.cpu.queue.clone().acquire_owned().await.map_err(|e| InferenceError::Internal(e.to_string()))?;
        self.metrics.queue_wait.observe(waiting.elapsed().as_secs_f64());
        let job = tokio::task::spawn_blocking(move || {
            let _slot = permit;
            work()
        });
        let result = job.await;
        let cpu = self.cpu.clone();
        crate::memory::large_job_ended(move || cpu.busy());
        match result {
            Ok(result) => result,
            Err(e) => Err(InferenceError::Internal(e.to_string())),
        }
    }
}

fn panicked(panic: &(dyn std::any::Any + Send)) -> InferenceError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    InferenceError::Internal(format!("task panicked: {message}"))
}
