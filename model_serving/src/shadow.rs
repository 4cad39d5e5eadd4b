//! Shadow scoring: a second model (SHADOW_MODEL_URI, a registry alias such as `@challenger`,
//! followed like the served one) scores every input again, off the request path, so an operator
//! sees how the next model would do on live traffic before promoting it. Callers get the served
//! model's answer only: a request hands its frame and scores over and returns; at most
//! SHADOW_QUEUE inputs wait for the shadow model, and an input arriving when they are all taken
//! is dropped and counted, never waited for. The shadow model scores the waiting inputs one after
//! another on the blocking pool (one hand-off for all of them), outside the CPU slots requests
//! queue for.
//!
//! Metrics compare the two on the same rows: rows and anomalies of each, the rows flagged by
//! each (`shadow_flags_total{served, shadow}`: agreement is its diagonal) and the correlation of
//! the two models' scores over the last input.
//!
//! Model sets compare too. Rows a served set routed keep their groups: a shadow set routes them
//! the same way, and a shadow single model scores each group's rows apart (as a set's fallback
//! would). Each row is flagged against its own model's threshold, and the correlation is over
//! scores divided by their thresholds (the models of a set score on scales of their own). A shadow
//! set cannot route the rows of a served single model (they carry no group): such inputs count
//! as errors, with one warning.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use model_core::data::Groups;
use model_core::{Artifact, Frame, Scores};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::model_follow::FollowHandle;
use crate::served_model::CurrentModel;

/// One input to score again.
struct Job {
    frame: Arc<Frame>,
    /// The served model's scores and flagged rows: its flags are worked out in the worker, off
    /// the request path.
    served: Scores,
    /// For rows a served model set routed: their groups and each group's threshold (in the
    /// groups' order).
    routing: Option<Routing>,
}

/// How a served model set routed an input's rows.
#[derive(Debug, Clone)]
pub struct Routing {
    pub groups: Arc<Groups>,
    /// The threshold each group was scored against, by group code.
    pub thresholds: Vec<f64>,
}

/// The shadow model, its follower and its queue.
#[derive(Debug)]
pub struct Shadow {
    current: Arc<CurrentModel>,
    follow: FollowHandle,
    capacity: usize,
    waiting: Arc<AtomicUsize>,
    jobs: mpsc::UnboundedSender<Job>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("rows", &self.frame.n_rows).finish()
    }
}

impl Shadow {
    /// Starts the worker that scores queued inputs with the model in `current` (followed by
    /// `follow`); at most `capacity` inputs wait.
    pub fn start(
        current: Arc<CurrentModel>,
        follow: FollowHandle,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Arc<Shadow> {
        let (jobs, receiver) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        tokio::spawn(work(receiver, current.clone(), waiting.clone(), metrics.clone()));
        Arc::new(Shadow { current, follow, capacity, waiting, jobs, metrics })
    }

    /// Queues `frame` and the served model's `scores` of it (with the groups a served set
    /// routed it by) for the shadow model, or drops them (counted) when SHADOW_QUEUE inputs
    /// already wait or there is no shadow model yet. Never blocks.
    pub fn offer(&self, frame: Arc<Frame>, scores: &Scores, routing: Option<Routing>) {
        let taken =
            self.waiting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.capacity).then_some(n + 1));
        if taken.is_err() || self.current.get().is_none() {
            if taken.is_ok() {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
            }
            self.metrics.shadow_jobs.with_label_values(&["dropped"]).inc();
            return;
        }
        let job = Job { frame, served: scores.clone(), routing };
        if self.jobs.send(job).is_err() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            self.metrics.shadow_jobs.with_label_values(&["dropped"]).inc();
        }
    }

    /// The shadow model's version now, if there is one.
    pub fn version(&self) -> Option<String> {
        self.current.get().map(|m| m.version.clone())
    }

    /// Checks the shadow alias at once (with the served one's, on SIGHUP).
    pub fn check_now(&self) {
        self.follow.check_now();
    }
}

async fn work(
    mut jobs: mpsc::UnboundedReceiver<Job>,
    current: Arc<CurrentModel>,
    waiting: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
) {
    while let Some(first) = jobs.recv().await {
        // Everything waiting goes to the blocking pool in one hand-off: small inputs cost less
        // to score than a trip to another thread and back.
        let mut batch = vec![first];
        while let Ok(job) = jobs.try_recv() {
            batch.push(job);
        }
        let n = batch.len();
        let Some(shadow) = current.get() else {
            waiting.fetch_sub(n, Ordering::AcqRel);
            metrics.shadow_jobs.with_label_values(&["dropped"]).inc_by(n as u64);
            continue;
        };
        let metrics_job = metrics.clone();
        let done = tokio::task::spawn_blocking(move || {
            for job in &batch {
                match score_again(&shadow.model, job) {
                    Ok(Some(scored)) => compare(&metrics_job, &shadow.version, job, &scored),
                    Ok(None) => {
                        static WARNED: AtomicBool = AtomicBool::new(false);
                        if !WARNED.swap(true, Ordering::Relaxed) {
                            tracing::warn!(version = %shadow.version, "the shadow model is a model set and the \
                                served model a single one: its rows carry no group to route them by, so they are \
                                not compared (counted as shadow errors; warned once)");
                        }
                        metrics_job.shadow_jobs.with_label_values(&["error"]).inc();
                    }
                    Err(e) => {
                        tracing::warn!(version = %shadow.version, error = %e, "the shadow model could not score an input");
                        metrics_job.shadow_jobs.with_label_values(&["error"]).inc();
                    }
                }
            }
        })
        .await;
        waiting.fetch_sub(n, Ordering::AcqRel);
        if let Err(e) = done {
            tracing::error!(error = %e, "shadow scoring failed unexpectedly");
            metrics.shadow_jobs.with_label_values(&["error"]).inc();
        }
    }
}

/// One input as the shadow model scored it.
struct ShadowScores {
    scores: Scores,
    /// Each row's score divided by its model's threshold, when the rows were routed by group.
    relative: Option<Vec<f32>>,
}

/// The shadow model's scores of `job`'s rows, routed by the served set's groups when it routed
/// them; `None` when a shadow set gets rows without groups.
fn score_again(shadow: &Artifact, job: &Job) -> Result<Option<ShadowScores>, model_core::DataError> {
    const SOURCE: &str = "shadow input";
    match (shadow, &job.routing) {
        (Artifact::Single(model), None) => {
            Ok(Some(ShadowScores { scores: model.score_frame(&job.frame, SOURCE)?, relative: None }))
        }
        (Artifact::Set(_), None) => Ok(None),
        (Artifact::Set(set), Some(routing)) => {
            let scored = set.score(&job.frame, &routing.groups, SOURCE)?;
            let relative = scored.relative();
            Ok(Some(ShadowScores { scores: scored.split().0, relative: Some(relative) }))
        }
        (Artifact::Single(model), Some(routing)) => {
            // Each group's rows apart, as the one model would score them sent alone.
            let frame = &job.frame;
            let d = frame.n_cols();
            let mut scores = vec![0.0f32; frame.n_rows];
            let mut anomalies = Vec::new();
            // Each group's rows in input order, in one pass over the codes.
            let mut by_group: Vec<Vec<usize>> = vec![Vec::new(); routing.groups.names.len()];
            for (row, &code) in routing.groups.codes.iter().enumerate() {
                by_group[code as usize].push(row);
            }
            for rows in by_group {
                let mut values = Vec::with_capacity(rows.len() * d);
                for &r in &rows {
                    values.extend_from_slice(frame.row(r));
                }
                let sub = Frame { columns: frame.columns.clone(), n_rows: rows.len(), values };
                let scored = model.score_frame(&sub, SOURCE)?;
                for (&row, &score) in rows.iter().zip(&scored.scores) {
                    scores[row] = score;
                }
                anomalies.extend(scored.anomalies.iter().map(|&i| rows[i]));
            }
            anomalies.sort_unstable();
            let threshold = model.meta.threshold.value;
            let relative = scores.iter().map(|s| (f64::from(*s) / threshold.max(f64::MIN_POSITIVE)) as f32).collect();
            Ok(Some(ShadowScores { scores: Scores { scores, threshold, anomalies }, relative: Some(relative) }))
        }
    }
}

/// Counts how the shadow model's answer on one input compares with the served model's.
fn compare(metrics: &Metrics, version: &str, job: &Job, shadow: &ShadowScores) {
    metrics.shadow_jobs.with_label_values(&["scored"]).inc();
    metrics.shadow_model_info.reset();
    metrics.shadow_model_info.with_label_values(&[version]).set(1);
    let flags = shadow.scores.flags();
    metrics.shadow_rows_scored.inc_by(flags.len() as u64);
    metrics.shadow_anomalies_flagged.inc_by(shadow.scores.anomalies.len() as u64);
    let mut cells = [[0u64; 2]; 2];
    for (a, b) in job.served.flags().iter().zip(&flags) {
        cells[usize::from(*a)][usize::from(*b)] += 1;
    }
    let name = |flagged: usize| if flagged == 1 { "anomalous" } else { "normal" };
    for (a, row) in cells.iter().enumerate() {
        for (b, n) in row.iter().enumerate() {
            if *n > 0 {
                metrics.shadow_flags.with_label_values(&[name(a), name(b)]).inc_by(*n);
            }
        }
    }
    // Routed rows compare relative to their own thresholds: each model of a set scores on a
    // scale of its own.
    let r = match (&job.routing, &shadow.relative) {
        (Some(routing), Some(relative)) => {
            let served: Vec<f32> = job
                .served
                .scores
                .iter()
                .zip(&routing.groups.codes)
                .map(|(s, &code)| {
                    let threshold = routing.thresholds.get(code as usize).copied().unwrap_or(1.0);
                    (f64::from(*s) / threshold.max(f64::MIN_POSITIVE)) as f32
                })
                .collect();
            correlation(&served, relative)
        }
        _ => correlation(&job.served.scores, &shadow.scores.scores),
    };
    if let Some(r) = r {
        metrics.shadow_score_correlation.set(r);
    }
}

/// Pearson correlation of two score series, or `None` when either is constant.
fn correlation(a: &[f32], b: &[f32]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n < 2 {
        return None;
    }
    let mean = |v: &[f32]| v[..n].iter().map(|x| f64::from(*x)).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a[..n].iter().zip(&b[..n]) {
        let (dx, dy) = (f64::from(*x) - ma, f64::from(*y) - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    let r = sab / (saa * sbb).sqrt();
    r.is_finite().then_some(r)
}
