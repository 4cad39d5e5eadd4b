//! Running one engine task: fetch the input from the task's S3, score it, plot it, upload the
//! outputs, and PATCH the engine's callback. Every failure ends the task as `error` with a
//! message a person can act on, and the engine is told in every case.
//!
//! Retries: `object_storage` retries each S3 call itself (`S3Options::max_attempts`), so nothing
//! here wraps S3 in a retry; only the callback to the engine is retried ([`CALLBACK_RETRY`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use model_core::plot::anomalies_png;
use object_storage::{AwsEnv, S3Options, S3Settings, StorageError, Store};
use prometheus::IntCounter;

use super::protocol::{INPUT_FIELD, ServiceTask, TaskStatus, TaskUpdate};
use super::store::TaskStore;
use crate::error_text::chain;
use crate::inference::{Explain, InferenceError, Input, Reservation, Scorer, TASK_ADMISSION_WAIT};
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
    // One attempt per call here: the store retries transient S3 failures itself.
    let store = S3Options::resolve(&format!("s3://{}", task.s3_bucket), &settings, &AwsEnv::default())
        .and_then(Store::s3)
        .map_err(|e| storage_message(e, task, Step::Connect))?;
    let bytes = store
        .get_limited(key, ctx.max_input_bytes as u64)
        .await
        .map_err(|e| storage_message(e, task, Step::ReadInput(key)))?;

    // The input's share of MEMORY_BUDGET, as a large request's: held by the scoring and plotting
    // jobs until they end. Taken once the size is known (after the download); a task may wait
    // for it much longer than a request, since nobody waits on its answer.
    let reservation = Reservation::default();
    ctx.scorer
        .reserve_within(&reservation, bytes.len(), TASK_ADMISSION_WAIT)
        .await
        .map_err(|e| format!("input {key}: {e}"))?;
    ctx.store.set(id, TaskStatus::Processing);
    // The anomalous rows are explained as on `/compute` by default.
    let scored = ctx
        .scorer
        .score(Input::Csv(bytes), key.to_string(), &reservation, Explain::default())
        .await
        .map_err(|e| chain(&e))?;
    // The model that scored it, even if another was swapped in meanwhile.
    let features = scored.model.model.meta().features.clone();
    let report = Scorer::report(
        &scored.model,
        scored.scores.clone(),
        scored.explanations.clone(),
        scored.explanations_capped,
        scored.groups.as_deref(),
    );
    let png = ctx
        .scorer
        .run_blocking(&reservation, move || {
            let frame = &scored.frame;
            let columns: Vec<Vec<f64>> = (0..frame.n_cols()).map(|j| frame.column(j)).collect();
            let s = &scored.scores;
            // Each anomalous segment's leading feature is marked (the JSON names every row's).
            let causes = scored.explanations.as_deref().map(model_core::segment_causes).unwrap_or_default();
            anomalies_png(&features, &columns, &s.scores, s.threshold, &s.flags(), &causes)
                .map_err(|e| InferenceError::Internal(format!("drawing the plot failed: {}", chain(&e))))
        })
        .await
        .map_err(|e| chain(&e))?;
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
            format!("{what}: {}", chain(&other))
        }
    }
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

/// Waits between callback attempts: 0.5, 1, 2, 4 and 8 s, five retries over 15.5 s, enough to
/// ride out an engine restart.
pub const CALLBACK_RETRY: ExponentialBuilder =
    ExponentialBuilder::new().with_min_delay(Duration::from_millis(500)).with_factor(2.0).with_max_times(5);

/// Why one callback attempt failed.
#[derive(Debug)]
enum CallbackError {
    /// No answer, a 5xx or a 429: the engine may take it later.
    Retryable(String),
    /// Any other 4xx (unknown task, rejected body) will not change on retry.
    Rejected { status: reqwest::StatusCode, body: String },
}

impl std::fmt::Display for CallbackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallbackError::Retryable(problem) => f.write_str(problem),
            CallbackError::Rejected { status, body } => write!(f, "answered {status}: {body}"),
        }
    }
}

/// PATCHes the result to the engine, retrying network errors, 5xx and 429 ([`CALLBACK_RETRY`]);
/// a rejection is logged and dropped.
async fn callback(ctx: &WorkerContext, url: &str, id: &str, update: &TaskUpdate) {
    let attempt = || async {
        match ctx.http.patch(url).json(update).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) if r.status().is_client_error() && r.status() != reqwest::StatusCode::TOO_MANY_REQUESTS => {
                let status = r.status();
                Err(CallbackError::Rejected { status, body: r.text().await.unwrap_or_default() })
            }
            Ok(r) => Err(CallbackError::Retryable(format!("answered {}", r.status()))),
            Err(e) => Err(CallbackError::Retryable(format!("did not answer: {}", chain(&e)))),
        }
    };
    deliver(attempt, CALLBACK_RETRY, &ctx.metrics.callback_retries, id, url).await;
}

/// Runs callback attempts under `policy`, counting each retry, and logs how it ended.
async fn deliver<F, Fut>(attempt: F, policy: ExponentialBuilder, retries: &IntCounter, id: &str, url: &str)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), CallbackError>>,
{
    // As logged: without the credentials a callback URL may carry.
    let url = object_storage::redact_urls(url);
    let result = attempt
        .retry(policy)
        .when(|e| matches!(e, CallbackError::Retryable(_)))
        .notify(|e, wait| {
            tracing::warn!(task = %id, %url, problem = %e, retry_in = ?wait, "task callback failed; retrying");
            retries.inc();
        })
        .await;
    match result {
        Ok(()) => {}
        Err(CallbackError::Rejected { status, body }) => {
            tracing::error!(task = %id, %url, %status, %body, "the engine rejected the task callback; not retrying");
        }
        Err(CallbackError::Retryable(problem)) => {
            tracing::error!(task = %id, %url, %problem, "task callback failed; giving up");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Ready;
    use std::sync::{Arc, Mutex};

    use tokio::time::{Instant, advance};
    use tokio_test::{assert_pending, assert_ready, task};

    use super::*;

    type Attempts = Arc<Mutex<Vec<Duration>>>;

    /// An attempt that answers from a script and notes when it was made (paused clock).
    fn scripted(
        answers: Vec<Result<(), CallbackError>>,
    ) -> (impl FnMut() -> Ready<Result<(), CallbackError>>, Attempts) {
        let start = Instant::now();
        let times = Arc::new(Mutex::new(Vec::new()));
        let (seen, mut answers) = (times.clone(), answers.into_iter());
        let attempt = move || {
            seen.lock().unwrap().push(start.elapsed());
            std::future::ready(answers.next().unwrap_or(Ok(())))
        };
        (attempt, times)
    }

    fn retryable(what: &str) -> Result<(), CallbackError> {
        Err(CallbackError::Retryable(what.into()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_callback_is_retried_after_half_a_second_then_doubling_waits() {
        let retries = IntCounter::new("retries", "retries").unwrap();
        let (attempt, times) =
            scripted(vec![retryable("did not answer"), retryable("answered 503"), retryable("answered 429")]);
        let mut delivery = task::spawn(deliver(attempt, CALLBACK_RETRY, &retries, "t1", "http://engine/tasks/t1"));
        assert_pending!(delivery.poll());
        assert_eq!(times.lock().unwrap().len(), 1);
        advance(Duration::from_millis(499)).await;
        assert_pending!(delivery.poll());
        assert_eq!(times.lock().unwrap().len(), 1, "not before 0.5 s");
        advance(Duration::from_millis(1)).await;
        assert_pending!(delivery.poll());
        advance(Duration::from_millis(999)).await;
        assert_pending!(delivery.poll());
        assert_eq!(times.lock().unwrap().len(), 2, "then 1 s");
        advance(Duration::from_millis(1)).await;
        assert_pending!(delivery.poll());
        advance(Duration::from_secs(2)).await;
        assert_ready!(delivery.poll());
        let secs: Vec<f64> = times.lock().unwrap().iter().map(Duration::as_secs_f64).collect();
        assert_eq!(secs, [0.0, 0.5, 1.5, 3.5]);
        assert_eq!(retries.get(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_callback_gives_up_after_five_retries_and_never_retries_a_rejection() {
        let retries = IntCounter::new("retries", "retries").unwrap();
        let (attempt, times) = scripted((0..10).map(|_| retryable("answered 502")).collect());
        deliver(attempt, CALLBACK_RETRY, &retries, "t1", "http://engine/tasks/t1").await;
        let secs: Vec<f64> = times.lock().unwrap().iter().map(Duration::as_secs_f64).collect();
        assert_eq!(secs, [0.0, 0.5, 1.5, 3.5, 7.5, 15.5]);
        assert_eq!(retries.get(), 5);

        let retries = IntCounter::new("retries", "retries").unwrap();
        let rejected =
            Err(CallbackError::Rejected { status: reqwest::StatusCode::NOT_FOUND, body: "Task Not Found".into() });
        let (attempt, times) = scripted(vec![rejected]);
        let mut delivery = task::spawn(deliver(attempt, CALLBACK_RETRY, &retries, "t2", "http://engine/tasks/t2"));
        assert_ready!(delivery.poll());
        assert_eq!(times.lock().unwrap().len(), 1);
        assert_eq!(retries.get(), 0);
    }
}
