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
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use model_core::data::{Groups, read_csv_bytes, read_csv_grouped};
use model_core::model_set::GroupScores;
use model_core::{Columns, DataError, Frame, ModelSet, RowExplanation, Scores};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use utoipa::ToSchema;

use crate::drift::{DriftReport, DriftTracker, GroupError, RecentScores};
use crate::metrics::Metrics;
use crate::served_model::{Artifact, CurrentModel, ServedModel};
use crate::shadow::{Routing, Shadow};

/// Inputs up to this size (CSV bytes, or 8 bytes per JSON value) are scored inline: about
/// 0.1 ms of parsing and scoring, too little to pay for a hand-off to the blocking pool and back
/// (its thread wake-ups were an eighth of the service's time in the 100-row benchmark).
pub const INLINE_MAX_BYTES: usize = 32 * 1024;

/// Estimated peak memory of a large request per byte of its (decoded) body, measured with
/// scripts/memory_peak.sh: a 60 MB CSV of 6 features raised the process's peak resident size by
/// 1.87 times its size (the body, then the parsed frame of f64 values beside it; windows are
/// scored in chunks and the body is freed before scoring).
pub const PEAK_PER_BODY_BYTE: u64 = 2;

/// How long a large request waits for its share of MEMORY_BUDGET before it is answered 503.
pub const ADMISSION_WAIT: Duration = Duration::from_secs(2);

/// How long a large engine task input waits for its share of MEMORY_BUDGET before the task ends
/// as an error: nobody waits on a queued task's answer, so it may wait its turn much longer.
pub const TASK_ADMISSION_WAIT: Duration = Duration::from_secs(120);

/// A large request could not have its share of MEMORY_BUDGET.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    #[error(
        "a body of {body} bytes needs an estimated {needed} bytes of memory to be scored, more than the whole \
         MEMORY_BUDGET of {budget} bytes; split the data into smaller requests"
    )]
    OverBudget { body: u64, needed: u64, budget: u64 },
    #[error(
        "the memory budget (MEMORY_BUDGET, {budget} bytes) is taken by other large requests; this one needs an \
         estimated {needed} bytes, retry later"
    )]
    Busy { needed: u64, budget: u64 },
}

/// MEMORY_BUDGET as permits of one KiB each, taken by large requests for their estimated peak.
#[derive(Debug)]
struct MemoryBudget {
    kib: Arc<Semaphore>,
    bytes: u64,
}

impl MemoryBudget {
    /// The semaphore's permits: the budget in KiB (at least 1, at most u32::MAX).
    fn total_kib(&self) -> u32 {
        u32::try_from((self.bytes / 1024).max(1)).unwrap_or(u32::MAX)
    }
}

/// The share of MEMORY_BUDGET a request or task holds. Clones share it, and it is given back
/// when the last clone is dropped: every blocking job of the request holds a clone, so a job
/// that outlives its request (REQUEST_TIMEOUT, a client gone) keeps the memory it still uses
/// counted until it really ends.
#[derive(Debug, Clone, Default)]
pub struct Reservation(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl Reservation {
    fn permit(&self) -> MutexGuard<'_, Option<OwnedSemaphorePermit>> {
        // A panic while merging permits leaves a valid Option behind.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn kib(&self) -> u64 {
        self.permit().as_ref().map_or(0, |p| p.num_permits() as u64)
    }
}

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
    /// Rows or columns with each row's group (JSON `groups`), for a model set.
    Grouped(Box<Input>, Vec<String>),
}

impl Input {
    /// Rough size of the work, in CSV-text bytes (a JSON value counts as 8).
    fn work_bytes(&self) -> usize {
        match self {
            Input::Csv(bytes) => bytes.len(),
            Input::Rows(rows) => rows.iter().map(Vec::len).sum::<usize>() * 8,
            Input::Columns(columns) => columns.values().map(Vec::len).sum::<usize>() * 8,
            Input::Grouped(input, groups) => input.work_bytes() + groups.iter().map(|g| g.len() + 3).sum::<usize>(),
        }
    }
}

/// Which rows get a per-feature explanation (`explain`), and how many features each (`top`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explain {
    pub rows: ExplainRows,
    pub top: usize,
}

/// The rows [`Explain`] covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExplainRows {
    /// Rows above the threshold (the default).
    Anomalies,
    /// Every row.
    All,
    /// No explanations.
    None,
}

/// Features named per explained row unless the caller asks for another number.
pub const EXPLAIN_TOP: usize = 3;

/// Rows explained at most per input: the highest-scoring ones beyond it. An answer explaining a
/// whole 60 MB body (a drifted input can flag every row) would be larger than the body itself.
pub const EXPLAIN_MAX_ROWS: usize = 10_000;

/// `rows` (ascending), or the [`EXPLAIN_MAX_ROWS`] of them with the highest scores (still
/// ascending), and whether rows were left out.
impl ExplainRows {
    /// The rows of `scores` to explain (see [`capped_rows`]), and whether rows were left out.
    fn pick(self, scores: &Scores) -> Option<(Vec<usize>, bool)> {
        match self {
            ExplainRows::None => None,
            ExplainRows::Anomalies => Some(capped_rows(scores.anomalies.clone(), &scores.scores)),
            ExplainRows::All => Some(capped_rows((0..scores.scores.len()).collect(), &scores.scores)),
        }
    }
}

fn capped_rows(mut rows: Vec<usize>, scores: &[f32]) -> (Vec<usize>, bool) {
    if rows.len() <= EXPLAIN_MAX_ROWS {
        return (rows, false);
    }
    rows.select_nth_unstable_by(EXPLAIN_MAX_ROWS - 1, |a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
    rows.truncate(EXPLAIN_MAX_ROWS);
    rows.sort_unstable();
    (rows, true)
}

impl Default for Explain {
    fn default() -> Self {
        Explain { rows: ExplainRows::Anomalies, top: EXPLAIN_TOP }
    }
}

/// Scores plus the feature columns they were computed from (the engine worker plots them), the
/// explanations asked for, and the model that computed them (a swap during the request does not
/// change it).
#[derive(Debug)]
pub struct Scored {
    /// Shared with the shadow model's queue, when there is one.
    pub frame: Arc<Frame>,
    pub scores: Scores,
    /// `None` when none were asked for or the model's kind has none.
    pub explanations: Option<Vec<RowExplanation>>,
    /// True when more rows asked for explanations than [`EXPLAIN_MAX_ROWS`].
    pub explanations_capped: bool,
    /// How each group was scored, when a model set scored the input.
    pub groups: Option<Vec<GroupScores>>,
    /// The rows' groups as the set routed them (for the shadow model).
    pub routing: Option<Routing>,
    pub model: Arc<ServedModel>,
}

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error(transparent)]
    Data(#[from] DataError),
    /// No model yet: the followed registry alias does not exist and there is no fallback.
    #[error(
        "no model is loaded yet: {0} does not exist in the registry and MODEL_PATH holds no model; promote one \
         (model-creation models promote) and the service picks it up"
    )]
    NoModel(String),
    /// The blocking task panicked or was cancelled; the service keeps running.
    #[error("scoring failed unexpectedly: {0}")]
    Internal(String),
}

/// Scores of one input as the service reports them, on `/compute` and in engine task outputs.
/// `model_version` names the version that scored them (the registry version when the model
/// came from a registry).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"model": "ae-anomaly-detection", "model_version": "20261123-1", "threshold": 0.85,
    "rows": 3, "scores": [0.12, 0.09, 3.4], "anomalies": [2], "anomaly_count": 1,
    "explanations": [{"row": 2, "features": [
        {"name": "vibration", "share": 2.9, "observed": 1.82, "reconstructed": 0.56},
        {"name": "current", "share": 0.31, "observed": 10.9, "reconstructed": 10.2},
        {"name": "flow", "share": 0.08, "observed": 50.3, "reconstructed": 50.1}]}]}))]
pub struct Report {
    /// Model name (the registry's name, or the metadata's).
    pub model: String,
    pub model_version: String,
    /// Rows scoring above this are anomalous. Absent for a model set, whose groups each have
    /// their own (`groups`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Number of input rows (= number of scores).
    pub rows: usize,
    /// Mean squared reconstruction error per input row (per point for windowed series), in
    /// standardised units. Always finite: an error too large for f32 (a value far out of the
    /// training range) is reported as 3.4028235e38, above every threshold.
    pub scores: Vec<f32>,
    /// Indices (0-based, data rows only) of rows above the threshold.
    pub anomalies: Vec<usize>,
    pub anomaly_count: usize,
    /// Per-feature explanations of the rows `explain` asked for (the anomalous rows by default),
    /// in row order; absent with `explain=none` or for a model kind without them (`GET /model`
    /// `explains`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanations: Option<Vec<RowReport>>,
    /// Present (true) when more rows asked for explanations than 10,000: the 10,000
    /// highest-scoring of them are explained.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub explanations_capped: bool,
    /// For a model set: each group of the input (in the order they first appear) with the model
    /// that scored its rows and that model's threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupReport>>,
}

/// How a model set scored one group of the input.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"group": "pump-3", "model_version": "3f2a9c01d4e5", "fallback": false,
    "threshold": 0.91, "rows": 240, "anomaly_count": 2}))]
pub struct GroupReport {
    /// The group's value in the set's group column.
    pub group: String,
    /// The version of the member model that scored it.
    pub model_version: String,
    /// True when the set has no model of this group and its fallback (trained on every row)
    /// scored it.
    pub fallback: bool,
    /// This group's rows scoring above this are anomalous.
    pub threshold: f64,
    pub rows: usize,
    pub anomaly_count: usize,
}

/// Why one row scored as it did: the features with the largest shares of its score.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"row": 2, "features": [
    {"name": "vibration", "share": 2.9, "observed": 1.82, "reconstructed": 0.56},
    {"name": "current", "share": 0.31, "observed": 10.9, "reconstructed": 10.2}]}))]
pub struct RowReport {
    /// The row's index, as in `anomalies`.
    pub row: usize,
    /// Largest share first.
    pub features: Vec<FeatureReport>,
}

/// One feature's part in a row's score.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeatureReport {
    #[schema(value_type = String)]
    pub name: Arc<str>,
    /// This feature's part of the row's score: the parts of all features sum to the score.
    pub share: f64,
    /// The row's value, in the feature's units.
    pub observed: f64,
    /// The model's reconstruction of the value, in the feature's units (null if the network
    /// overflowed on an input far out of range).
    pub reconstructed: Option<f64>,
}

/// The current model, the line for CPU-bound work, the memory budget and the scoring counters.
#[derive(Debug, Clone)]
pub struct Scorer {
    current: Arc<CurrentModel>,
    /// What a missing model is described as (the followed alias).
    awaited: Arc<str>,
    cpu: Arc<CpuSlots>,
    memory: Option<Arc<MemoryBudget>>,
    metrics: Arc<Metrics>,
    /// The recent inputs compared with the model's training distribution.
    drift: Arc<DriftTracker>,
    /// The model that scores every input again off the request path (SHADOW_MODEL_URI).
    shadow: Option<Arc<Shadow>>,
}

impl Scorer {
    /// `cpu_slots` blocking jobs may run at once: one per core, since more would only share the
    /// same cores while each holds its input, frame and scores in memory.
    /// `memory_budget` (MEMORY_BUDGET, bytes) bounds what large requests hold at once; `None`
    /// admits every request. `awaited` names what a missing model would come from (the followed
    /// registry alias), for the answer while there is none.
    pub fn new(
        current: Arc<CurrentModel>,
        awaited: &str,
        metrics: Arc<Metrics>,
        cpu_slots: usize,
        memory_budget: Option<u64>,
        drift: Arc<DriftTracker>,
    ) -> Scorer {
        let slots = cpu_slots.max(1);
        let cpu = Arc::new(CpuSlots { queue: Arc::new(Semaphore::new(slots)), slots });
        let memory = memory_budget.map(|bytes| {
            let budget = MemoryBudget { kib: Arc::new(Semaphore::new(0)), bytes };
            budget.kib.add_permits(budget.total_kib() as usize);
            Arc::new(budget)
        });
        Scorer { current, awaited: awaited.into(), cpu, memory, metrics, drift, shadow: None }
    }

    /// Grows `reservation` to the estimated peak of a body of `body_bytes` ([`PEAK_PER_BODY_BYTE`]
    /// per byte), waiting up to [`ADMISSION_WAIT`] for other large requests to give memory back.
    /// Bodies scored inline (up to [`INLINE_MAX_BYTES`]) need no reservation. Called before a
    /// body is read (with its Content-Length), so a request that must wait holds no body yet,
    /// and again with the size read or decoded, which may be larger.
    pub async fn reserve(&self, reservation: &Reservation, body_bytes: usize) -> Result<(), AdmissionError> {
        self.reserve_within(reservation, body_bytes, ADMISSION_WAIT).await
    }

    /// [`Scorer::reserve`] with its own longest wait (engine tasks wait [`TASK_ADMISSION_WAIT`]).
    pub async fn reserve_within(
        &self,
        reservation: &Reservation,
        body_bytes: usize,
        wait: Duration,
    ) -> Result<(), AdmissionError> {
        let Some(memory) = &self.memory else { return Ok(()) };
        if body_bytes <= INLINE_MAX_BYTES {
            return Ok(());
        }
        let body = body_bytes as u64;
        let needed = body.saturating_mul(PEAK_PER_BODY_BYTE);
        if needed > memory.bytes {
            return Err(AdmissionError::OverBudget { body, needed, budget: memory.bytes });
        }
        // At most the whole budget, which `needed` is not over (rounding aside).
        let wanted = needed.div_ceil(1024).min(u64::from(memory.total_kib()));
        let Some(extra) = wanted.checked_sub(reservation.kib()).filter(|&n| n > 0) else { return Ok(()) };
        let busy = AdmissionError::Busy { needed, budget: memory.bytes };
        let extra = u32::try_from(extra).unwrap_or(memory.total_kib());
        let acquired = tokio::time::timeout(wait, memory.kib.clone().acquire_many_owned(extra)).await;
        // Never closed: an error can only be the timeout.
        let Ok(Ok(permit)) = acquired else { return Err(busy) };
        let mut held = reservation.permit();
        match held.as_mut() {
            Some(held) => held.merge(permit),
            None => *held = Some(permit),
        }
        Ok(())
    }

    /// Bytes of MEMORY_BUDGET held right now (0 without a budget).
    pub fn memory_reserved(&self) -> u64 {
        self.memory.as_ref().map_or(0, |m| {
            u64::from(m.total_kib()).saturating_sub(m.kib.available_permits() as u64).saturating_mul(1024)
        })
    }

    /// The model requests are scored with right now, if there is one yet.
    pub fn current(&self) -> Option<Arc<ServedModel>> {
        self.current.get()
    }

    /// The model right now, or the error that says there is none yet.
    pub fn require_model(&self) -> Result<Arc<ServedModel>, InferenceError> {
        self.current().ok_or_else(|| InferenceError::NoModel(self.awaited.to_string()))
    }

    /// Scores every input again with `shadow`, off the request path.
    pub fn with_shadow(mut self, shadow: Arc<Shadow>) -> Scorer {
        self.shadow = Some(shadow);
        self
    }

    /// The shadow model, when SHADOW_MODEL_URI names one.
    pub fn shadow(&self) -> Option<&Arc<Shadow>> {
        self.shadow.as_ref()
    }

    /// Drift of the recent inputs against `served`'s training distribution (for a model set,
    /// each group's against its own model's, or `group`'s alone).
    pub fn drift_report(&self, served: &ServedModel, group: Option<&str>) -> Result<DriftReport, GroupError> {
        self.drift.report(&served.version, &served.model, group)
    }

    /// The scores of the rows in the drift window, for `served` (for a model set, `group`'s, or
    /// every group's relative to its threshold).
    pub fn recent_scores(&self, served: &ServedModel, group: Option<&str>) -> Result<RecentScores, GroupError> {
        self.drift.recent(&served.version, &served.model, group)
    }

    /// The slot a registry follower swaps new models into.
    pub fn slot(&self) -> &Arc<CurrentModel> {
        &self.current
    }

    /// The report of `scores`, naming `model`, the version that scored them (the score
    /// vectors move into it: a large request's scores are not copied).
    pub fn report(
        model: &ServedModel,
        scores: Scores,
        explanations: Option<Vec<RowExplanation>>,
        explanations_capped: bool,
        groups: Option<&[GroupScores]>,
    ) -> Report {
        let features = &model.feature_names;
        let explanations = explanations.map(|rows| {
            rows.into_iter()
                .map(|r| RowReport {
                    row: r.row,
                    features: r
                        .features
                        .into_iter()
                        .map(|f| FeatureReport {
                            name: features.get(f.feature).cloned().unwrap_or_else(|| Arc::from("")),
                            share: f.share,
                            observed: f.observed,
                            reconstructed: Some(f.reconstructed).filter(|v| v.is_finite()),
                        })
                        .collect(),
                })
                .collect()
        });
        let groups = groups.map(|groups| {
            groups
                .iter()
                .map(|g| GroupReport {
                    group: g.group.clone(),
                    model_version: g.version.clone(),
                    fallback: g.fallback,
                    threshold: g.threshold,
                    rows: g.rows.len(),
                    anomaly_count: g.anomalies,
                })
                .collect()
        });
        Report {
            explanations,
            explanations_capped,
            groups,
            model: model.name.clone(),
            model_version: model.version.clone(),
            threshold: Some(scores.threshold).filter(|t| t.is_finite()),
            rows: scores.scores.len(),
            anomaly_count: scores.anomalies.len(),
            anomalies: scores.anomalies,
            scores: scores.scores,
        }
    }

    /// Scores with `served` on the calling thread, uncounted. `input_name` names the input in
    /// error messages.
    pub fn score_blocking(
        served: Arc<ServedModel>,
        input: Input,
        input_name: &str,
        explain: Explain,
    ) -> Result<Scored, DataError> {
        let model = match &served.model {
            Artifact::Single(model) => model,
            Artifact::Set(set) => return Scorer::score_set(&served, set, input, input_name, explain),
        };
        let frame = match input {
            Input::Csv(bytes) => {
                let frame = read_csv_bytes(&bytes, input_name, Columns::Named(&model.meta.features))?;
                // The text is not needed once parsed: freed before scoring, a large body and the
                // scoring buffers are never in memory together.
                drop(bytes);
                frame
            }
            Input::Rows(rows) => Frame::from_rows(&rows, &model.meta.features, input_name)?,
            Input::Columns(columns) => Frame::from_columns(&columns, &model.meta.features, input_name)?,
            // One model scores every row whatever its group.
            Input::Grouped(input, _) => return Scorer::score_blocking(served, *input, input_name, explain),
        };
        let scores = model.score_frame(&frame, input_name)?;
        let asked = explain.rows.pick(&scores);
        let explanations_capped = asked.as_ref().is_some_and(|(_, capped)| *capped);
        let explanations = asked.and_then(|(rows, _)| model.explain(&frame, &rows, explain.top));
        Ok(Scored {
            frame: Arc::new(frame),
            scores,
            explanations,
            explanations_capped,
            groups: None,
            routing: None,
            model: served,
        })
    }

    /// [`Scorer::score_blocking`] for a model set: each row is scored by its group's model.
    fn score_set(
        served: &Arc<ServedModel>,
        set: &ModelSet,
        input: Input,
        input_name: &str,
        explain: Explain,
    ) -> Result<Scored, DataError> {
        let features = &set.manifest.features;
        let column = &set.manifest.group_by;
        let (frame, groups) = match input {
            Input::Csv(bytes) => read_csv_grouped(&bytes[..], input_name, Columns::Named(features), column)?,
            Input::Grouped(input, values) => {
                let frame = match *input {
                    Input::Rows(rows) => Frame::from_rows(&rows, features, input_name)?,
                    Input::Columns(columns) => Frame::from_columns(&columns, features, input_name)?,
                    Input::Csv(_) | Input::Grouped(..) => {
                        return Err(DataError::Invalid {
                            input: input_name.to_string(),
                            message: "groups are given with JSON rows or columns only".to_string(),
                        });
                    }
                };
                if values.len() != frame.n_rows {
                    return Err(DataError::Invalid {
                        input: input_name.to_string(),
                        message: format!(
                            "\"groups\" has {} value(s) for {} row(s); send one group ({column}) per row",
                            values.len(),
                            frame.n_rows
                        ),
                    });
                }
                (frame, Groups::from_values(column, &values))
            }
            Input::Rows(_) | Input::Columns(_) => {
                return Err(DataError::Invalid {
                    input: input_name.to_string(),
                    message: format!(
                        "the served model is a model set with one model per {column}: send each row's group, as a \
                         {column:?} column in CSV or as \"groups\": [...] (one per row) beside \"rows\" or \
                         \"columns\" in JSON"
                    ),
                });
            }
        };
        let (scores, scored_groups) = set.score(&frame, &groups, input_name)?.split();
        let asked = explain.rows.pick(&scores);
        let explanations_capped = asked.as_ref().is_some_and(|(_, capped)| *capped);
        let explanations = match asked {
            Some((rows, _)) => set.explain(&frame, &groups, &rows, explain.top)?,
            None => None,
        };
        let thresholds = scored_groups.iter().map(|g| g.threshold).collect();
        Ok(Scored {
            frame: Arc::new(frame),
            scores,
            explanations,
            explanations_capped,
            groups: Some(scored_groups),
            routing: Some(Routing { groups: Arc::new(groups), thresholds }),
            model: served.clone(),
        })
    }

    /// Adds rows `served` scored (the frame's rows, their scores in its row order) to the drift
    /// windows: a single model's, or a set's per group (`groups`, as the set routed them), each
    /// group against its own model's training data. Requests and the MQTT stream both feed it.
    pub fn observe_drift(&self, served: &ServedModel, frame: &Frame, scores: &Scores, groups: Option<&[GroupScores]>) {
        match (served.model.single(), groups) {
            (Some(model), _) => self.drift.observe(&served.version, &model.meta, frame, scores),
            (None, Some(groups)) => {
                self.drift.observe_set(&served.version, &served.model, frame, &scores.scores, groups)
            }
            (None, None) => {}
        }
    }

    /// Scores inline when the input is small, on the blocking pool otherwise, and counts the
    /// scoring time (parsing included, failures too) and the rows and anomalies scored. The job
    /// holds `hold` (the caller's share of MEMORY_BUDGET) until it ends.
    pub async fn score(
        &self,
        input: Input,
        input_name: String,
        hold: &Reservation,
        explain: Explain,
    ) -> Result<Scored, InferenceError> {
        let served = self.require_model()?;
        let scorer = self.clone();
        let scored = self
            .run_sized(input.work_bytes(), hold, move || {
                let started = Instant::now();
                let scored = Scorer::score_blocking(served, input, &input_name, explain);
                scorer.metrics.scoring_duration.observe(started.elapsed().as_secs_f64());
                let scored = scored?;
                let served = &scored.model;
                scorer.observe_drift(served, &scored.frame, &scored.scores, scored.groups.as_deref());
                if let Some(shadow) = &scorer.shadow {
                    shadow.offer(scored.frame.clone(), &scored.scores, scored.routing.clone());
                }
                Ok(scored)
            })
            .await?;
        self.metrics.rows_scored.inc_by(scored.scores.scores.len() as u64);
        self.metrics.anomalies_flagged.inc_by(scored.scores.anomalies.len() as u64);
        Ok(scored)
    }

    /// Runs CPU-bound work of about `work_bytes` input bytes: inline when it is at most
    /// [`INLINE_MAX_BYTES`], else as [`Scorer::run_blocking`].
    pub async fn run_sized<T, F>(&self, work_bytes: usize, hold: &Reservation, work: F) -> Result<T, InferenceError>
    where
        F: FnOnce() -> Result<T, InferenceError> + Send + 'static,
        T: Send + 'static,
    {
        if work_bytes > INLINE_MAX_BYTES {
            return self.run_blocking(hold, work).await;
        }
        // The same promise as on the blocking pool: a panic fails this one request, not the
        // connection or the service.
        std::panic::catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| Err(panicked(panic.as_ref())))
    }

    /// Runs CPU-bound work on the blocking pool once a CPU slot is free (the wait is the queue
    /// wait histogram) and returns its result; a panic in it becomes an error for this one
    /// request instead of taking the service down. The job holds `hold` until it ends, even
    /// when the request waiting for it is given up on.
    pub async fn run_blocking<T, F>(&self, hold: &Reservation, work: F) -> Result<T, InferenceError>
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
        let hold = hold.clone();
        let job = tokio::task::spawn_blocking(move || {
            let _slot = permit;
            let _memory = hold;
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
