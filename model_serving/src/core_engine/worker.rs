//! Running one engine task: fetch the input from the task's S3, score it, plot it, upload the
//! outputs, and PATCH the engine's callback. Every failure ends the task as `error` with a
//! message a person can act on, and the engine is told in every case.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use model_core::plot::anomalies_png;
use object_storage::{AwsEnv, S3Options, S3Settings, StorageError, Store};

use super::protocol::{INPUT_FIELD, ServiceTask, TaskStatus, TaskUpdate};
use super::store::TaskStore;
use crate::inference::{InferenceError, Input, Scorer, run_blocking};
use crate::metrics::Metrics;

/// Accepted input extensions for the `text` field (text/csv, text/plain).
const INPUT_EXTENSIONS: [&str; 2] = ["csv", "txt"];

/// One accepted task on its way through the queue to [`process`].
pub struct Job {
    pub task: ServiceTask,
    /// When `POST /compute` accepted it, for the task duration metric.
    pub accepted: Instant,
}

pub struct WorkerContext {
    pub scorer: Scorer,
    pub http: reqwest::Client,
    pub metrics: Arc<Metrics>,
    pub store: Arc<TaskStore>,
    pub max_input_bytes: usize,
    /// Waits between callback attempts; its length is the number of retries.
    pub callback_backoff: Vec<Duration>,
}

pub async fn process(ctx: &WorkerContext, job: Job) {
    let task = &job.task;
    let id = task.task.id.as_str();
    let outcome = run(ctx, task).await;
    let update = match outcome {
        Ok(keys) => TaskUpdate { status: TaskStatus::Finished, data_out: keys, error_message: None },
        Err(message) => {
            tracing::warn!(task = %id, error = %message, "engine task failed");
            TaskUpdate { status: TaskStatus::Error, data_out: Vec::new(), error_message: Some(message) }
        }
    };
    ctx.store.set(id, update.status);
    let outcome = if update.status == TaskStatus::Finished { "finished" } else { "error" };
    callback(ctx, &task.callback_url, id, &update).await;
    ctx.metrics.tasks.with_label_values(&[outcome]).inc();
    ctx.metrics.task_duration.observe(job.accepted.elapsed().as_secs_f64());
    tracing::info!(task = %id, status = outcome, "engine task done");
}

/// The task's work; `Ok` holds the output keys in `data_out_fields` order (result PNG, scores JSON).
async fn run(ctx: &WorkerContext, task: &ServiceTask) -> Result<Vec<String>, String> {
    let id = task.task.id.as_str();
    ctx.store.set(id, TaskStatus::Fetching);
    if task.task.data_in.len() != 1 {
        return Err(format!(
            "expected 1 input (field \"{INPUT_FIELD}\"), got {}: {:?}",
            task.task.data_in.len(),
            task.task.data_in
        ));
    }
    let key = task.task.data_in[0].as_str();
    check_extension(key)?;
    // Every setting comes from the task; the service's own AWS variables must not leak in.
    let settings = S3Settings {
        endpoint_url: Some(task.s3_host.clone()),
        region: Some(task.s3_region.clone()),
        access_key_id: Some(task.s3_access_key_id.clone()),
        secret_access_key: Some(task.s3_secret_access_key.clone()),
        session_token: None,
    };
    let store = S3Options::resolve(&format!("s3://{}", task.s3_bucket), &settings, &AwsEnv::default())
        .and_then(Store::s3)
        .map_err(|e| storage_message(e, task, Step::Connect))?;
    let bytes = store
        .get_limited(key, ctx.max_input_bytes as u64)
        .await
        .map_err(|e| storage_message(e, task, Step::ReadInput(key)))?;

    ctx.store.set(id, TaskStatus::Processing);
    let scored = ctx.scorer.score(Input::Csv(bytes), key.to_string()).await.map_err(chain)?;
    ctx.metrics.rows_scored.inc_by(scored.scores.scores.len() as u64);
    ctx.metrics.anomalies_flagged.inc_by(scored.scores.anomalies.len() as u64);
    let features = ctx.scorer.model().meta.features.clone();
    let report = ctx.scorer.report(scored.scores.clone());
    let png = run_blocking(move || {
        let frame = &scored.frame;
        let columns: Vec<Vec<f64>> = (0..frame.n_cols()).map(|j| frame.column(j)).collect();
        let s = &scored.scores;
        anomalies_png(&features, &columns, &s.scores, s.threshold, &s.flags())
            .map_err(|e| InferenceError::Internal(format!("drawing the plot failed: {e}")))
    })
    .await
    .map_err(chain)?;
    let json = serde_json::to_vec(&report).map_err(|e| format!("encoding the scores failed: {e}"))?;

    ctx.store.set(id, TaskStatus::Saving);
    let png_key = format!("{}.png", uuid::Uuid::new_v4());
    let json_key = format!("{}.json", uuid::Uuid::new_v4());
    store
        .put_with_type(&png_key, Bytes::from(png), "image/png")
        .await
        .map_err(|e| storage_message(e, task, Step::WriteOutput(&png_key)))?;
    store
        .put_with_type(&json_key, Bytes::from(json), "application/json")
        .await
        .map_err(|e| storage_message(e, task, Step::WriteOutput(&json_key)))?;
    Ok(vec![png_key, json_key])
}

/// The S3 step of a task, for its error message: a failure says which step it ended.
#[derive(Clone, Copy)]
enum Step<'a> {
    Connect,
    ReadInput(&'a str),
    WriteOutput(&'a str),
}

/// Words a storage failure for the person who submitted the task through the engine: which
/// step, which object, on which server, what S3 answered (the whole cause chain) and what to fix.
fn storage_message(e: StorageError, task: &ServiceTask, step: Step) -> String {
    let (bucket, host) = (&task.s3_bucket, &task.s3_host);
    match (step, e) {
        (Step::ReadInput(_), StorageError::NotFound { key, .. }) => {
            format!("s3://{bucket}/{key} does not exist on {host}: check the input's key and bucket")
        }
        (_, StorageError::NoSuchBucket { .. }) => format!("bucket {bucket} does not exist on {host}"),
        (_, StorageError::Credentials { key, code, .. }) => format!(
            "{host} refused the credentials for s3://{bucket}/{key} ({code}); check the access key, secret and region"
        ),
        (Step::ReadInput(_), StorageError::TooLarge { key, size, limit, .. }) => {
            format!("s3://{bucket}/{key} is {size} bytes, over the limit of {limit} bytes (MAX_BODY_BYTES)")
        }
        (step, other) => {
            let what = match step {
                Step::Connect => format!("connecting to S3 at {host} failed"),
                Step::ReadInput(key) => format!("reading the input s3://{bucket}/{key} from {host} failed"),
                Step::WriteOutput(key) => format!("uploading the result s3://{bucket}/{key} to {host} failed"),
            };
            format!("{what}: {}", chain(other))
        }
    }
}

/// An error and its causes as one line, for the task's `error_message`.
fn chain(e: impl std::error::Error + Send + Sync + 'static) -> String {
    format!("{:#}", anyhow::Error::from(e))
}

fn check_extension(key: &str) -> Result<(), String> {
    let ext = std::path::Path::new(key).extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext {
        Some(e) if INPUT_EXTENSIONS.contains(&e.as_str()) => Ok(()),
        Some(e) => Err(format!(
            "input {key:?} has type .{e}; the field \"{INPUT_FIELD}\" takes text/csv (.csv) or text/plain (.txt): \
             upload a CSV file"
        )),
        None => Err(format!(
            "input {key:?} has no file extension; the field \"{INPUT_FIELD}\" takes text/csv (.csv) or \
             text/plain (.txt): upload a CSV file"
        )),
    }
}

/// PATCHes the result to the engine, retrying network errors and 5xx with backoff; a 4xx
/// answer (unknown task, rejected body) will not change on retry, so it is logged and dropped.
async fn callback(ctx: &WorkerContext, url: &str, id: &str, update: &TaskUpdate) {
    let mut waits = ctx.callback_backoff.iter();
    loop {
        let problem = match ctx.http.patch(url).json(update).send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) if r.status().is_client_error() && r.status() != reqwest::StatusCode::TOO_MANY_REQUESTS => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                tracing::error!(task = %id, %url, %status, %body, "the engine rejected the task callback; not retrying");
                return;
            }
            Ok(r) => format!("answered {}", r.status()),
            Err(e) => format!("did not answer: {e}"),
        };
        let Some(wait) = waits.next() else {
            tracing::error!(task = %id, %url, problem = %problem, "task callback failed; giving up");
            return;
        };
        tracing::warn!(task = %id, %url, problem = %problem, retry_in = ?wait, "task callback failed; retrying");
        ctx.metrics.callback_retries.inc();
        tokio::time::sleep(*wait).await;
    }
}
