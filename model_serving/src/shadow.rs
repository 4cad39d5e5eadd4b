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

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use model_core::{Frame, Scores};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::model_follow::FollowHandle;
use crate::served_model::CurrentModel;

/// One input to score again.
struct Job {
    frame: Arc<Frame>,
    served_scores: Vec<f32>,
    /// The served model's threshold: its flags are worked out in the worker, off the request path.
    served_threshold: f64,
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

    /// Queues `frame` and the served model's `scores` of it for the shadow model, or drops them
    /// (counted) when SHADOW_QUEUE inputs already wait or there is no shadow model yet. Never
    /// blocks.
    pub fn offer(&self, frame: Arc<Frame>, scores: &Scores) {
        let taken =
            self.waiting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.capacity).then_some(n + 1));
        if taken.is_err() || self.current.get().is_none() {
            if taken.is_ok() {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
            }
            self.metrics.shadow_jobs.with_label_values(&["dropped"]).inc();
            return;
        }
        let job = Job { frame, served_scores: scores.scores.clone(), served_threshold: scores.threshold };
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
                // A shadow model set is not compared (rows carry no groups here).
                let Some(model) = shadow.model.single() else {
                    metrics_job.shadow_jobs.with_label_values(&["error"]).inc();
                    continue;
                };
                match model.score_frame(&job.frame, "shadow input") {
                    Ok(s) => compare(&metrics_job, &shadow.version, job, &s),
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

/// Counts how the shadow model's answer on one input compares with the served model's.
fn compare(metrics: &Metrics, version: &str, job: &Job, shadow: &Scores) {
    metrics.shadow_jobs.with_label_values(&["scored"]).inc();
    metrics.shadow_model_info.reset();
    metrics.shadow_model_info.with_label_values(&[version]).set(1);
    let flags = shadow.flags();
    metrics.shadow_rows_scored.inc_by(flags.len() as u64);
    metrics.shadow_anomalies_flagged.inc_by(shadow.anomalies.len() as u64);
    let mut cells = [[0u64; 2]; 2];
    for (score, b) in job.served_scores.iter().zip(&flags) {
        cells[usize::from(f64::from(*score) > job.served_threshold)][usize::from(*b)] += 1;
    }
    let name = |flagged: usize| if flagged == 1 { "anomalous" } else { "normal" };
    for (a, row) in cells.iter().enumerate() {
        for (b, n) in row.iter().enumerate() {
            if *n > 0 {
                metrics.shadow_flags.with_label_values(&[name(a), name(b)]).inc_by(*n);
            }
        }
    }
    if let Some(r) = correlation(&job.served_scores, &shadow.scores) {
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
