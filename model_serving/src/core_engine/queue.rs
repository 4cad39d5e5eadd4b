//! The engine task queue: `submit` validates and enqueues in microseconds (the engine gives up
//! after 5 s), a dispatcher runs up to `workers` tasks at a time, and `close` stops intake and
//! lets the queued tasks finish.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::hosts::{HostRules, Refusal};
use super::protocol::{ServiceTask, TaskStatus};
use super::store::TaskStore;
use super::worker::{self, Job, WorkerContext};

/// Why a task was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the task message is not valid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("the task queue is full ({0} tasks, MAX_TASKS); retry later")]
    QueueFull(usize),
    #[error("the service is shutting down and takes no new tasks")]
    ShuttingDown,
}

#[derive(Clone)]
pub struct Tasks {
    inner: Arc<Inner>,
}

struct Inner {
    sender: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    /// Accepted and not yet called back: what MAX_TASKS bounds.
    pending: AtomicUsize,
    max_tasks: usize,
    rules: HostRules,
    store: Arc<TaskStore>,
    ctx: Arc<WorkerContext>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").field("pending", &self.inner.pending.load(Ordering::Relaxed)).finish()
    }
}

impl Tasks {
    /// Starts the dispatcher; the handle ends once the queue is closed and every task is done.
    pub fn start(ctx: WorkerContext, rules: HostRules, max_tasks: usize, workers: usize) -> (Tasks, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let ctx = Arc::new(ctx);
        let inner = Arc::new(Inner {
            sender: Mutex::new(Some(tx)),
            pending: AtomicUsize::new(0),
            max_tasks,
            rules,
            store: ctx.store.clone(),
            ctx,
        });
        let workers = workers.max(1);
        let dispatcher = {
            let inner = inner.clone();
            tokio::spawn(async move {
                let slots = Arc::new(Semaphore::new(workers));
                while let Some(job) = rx.recv().await {
                    let Ok(permit) = slots.clone().acquire_owned().await else { break };
                    let inner = inner.clone();
                    tokio::spawn(async move {
                        worker::process(&inner.ctx, job).await;
                        inner.pending.fetch_sub(1, Ordering::SeqCst);
                        inner.ctx.metrics.task_queue_depth.dec();
                        drop(permit);
                    });
                }
                // Intake is closed: wait for the tasks still running.
                let _ = slots.acquire_many(workers as u32).await;
            })
        };
        (Tasks { inner }, dispatcher)
    }

    /// Queues a task: refused (before anything is fetched or called) when the service takes no
    /// tasks or the task names a host the rules do not allow.
    pub fn submit(&self, task: ServiceTask) -> Result<(), SubmitError> {
        let rules = &self.inner.rules;
        let checked = rules.takes_tasks().map_err(SubmitError::from).and_then(|()| {
            validate(&task).map_err(SubmitError::Invalid)?;
            rules.check(&task).map_err(SubmitError::from)
        });
        if let Err(e @ SubmitError::Refused(_)) = &checked {
            self.inner.ctx.metrics.tasks.with_label_values(&["refused"]).inc();
            tracing::warn!(task = %task.task.id, error = %e, "engine task refused");
        }
        checked?;
        let sender = self.inner.sender.lock().unwrap_or_else(|p| p.into_inner());
        let Some(sender) = sender.as_ref() else {
            return Err(SubmitError::ShuttingDown);
        };
        let max = self.inner.max_tasks;
        let reserved =
            self.inner.pending.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1));
        if reserved.is_err() {
            self.inner.ctx.metrics.tasks.with_label_values(&["rejected"]).inc();
            return Err(SubmitError::QueueFull(max));
        }
        let id = task.task.id.clone();
        self.inner.store.set(&id, TaskStatus::Pending);
        self.inner.ctx.metrics.task_queue_depth.inc();
        if sender.send(Job { task, accepted: Instant::now() }).is_err() {
            self.inner.pending.fetch_sub(1, Ordering::SeqCst);
            self.inner.ctx.metrics.task_queue_depth.dec();
            return Err(SubmitError::ShuttingDown);
        }
        tracing::info!(task = %id, "engine task queued");
        Ok(())
    }

    pub fn status(&self, id: &str) -> Option<TaskStatus> {
        self.inner.store.get(id)
    }

    /// Stops intake; queued tasks still run to their callback.
    pub fn close(&self) {
        self.inner.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// The checks of a task message's own fields (absolute http(s) URLs, non-empty names and keys)
/// that [`Tasks::submit`] makes before the host rules; the message says which field is wrong.
/// Public for the fuzz target of the `/compute` body.
pub fn validate(t: &ServiceTask) -> Result<(), String> {
    let url = |field: &str, v: &str| match reqwest::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(format!("{field} {:?} is not an absolute http(s) URL", object_storage::redact_urls(v))),
    };
    url("callback_url", &t.callback_url)?;
    url("s3_host", &t.s3_host)?;
    for (field, v) in [("s3_bucket", &t.s3_bucket), ("s3_region", &t.s3_region), ("task.id", &t.task.id)] {
        if v.trim().is_empty() {
            return Err(format!("{field} is empty"));
        }
    }
    if t.task.data_in.is_empty() {
        return Err("task.data_in is empty; expected one S3 key for the input field \"text\"".into());
    }
    Ok(())
}
