//! Following a registry alias (MODEL_REGISTRY + MODEL_NAME + MODEL_ALIAS): every
//! MODEL_REFRESH_INTERVAL, and at once on SIGHUP, the alias is read with a conditional request
//! (If-None-Match with the last ETag), so an unchanged alias costs one small round trip and no
//! body. When it names another version, that version is downloaded and checked
//! ([`model_loader::from_registry`]) and swapped in; requests in flight finish on the model they
//! started with. A version that fails its checks is refused, logged and counted, and the old
//! model keeps serving; it is not tried again until the alias moves. A storage failure is
//! retried at the next check. Readiness never depends on a refresh.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use model_registry::{AliasPoll, RegistryError};
use serde::Serialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use crate::error_text::chain;
use crate::metrics::Metrics;
use crate::model_loader::{self, Follow, LoadError};
use crate::served_model::{CurrentModel, now_rfc3339};

/// The last check of the alias, as `/model` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"at": "2026-12-02T14:05:00Z", "outcome": "swapped",
    "version": "20261202T140455123Z-1a2b3c4d", "message": null}))]
pub struct RefreshStatus {
    /// When the check ended, RFC 3339 UTC.
    pub at: String,
    /// `unchanged`, `swapped` (a new version is served), `refused` (the new version failed its
    /// checks; the old one keeps serving), `missing` (the alias does not exist) or `error` (the
    /// registry could not be read; tried again at the next check).
    pub outcome: String,
    /// The version the alias named, when it was read.
    pub version: Option<String>,
    /// What went wrong, for `refused` and `error`.
    pub message: Option<String>,
}

#[derive(Debug, Default)]
struct Status {
    last_check: Option<Instant>,
    last: Option<RefreshStatus>,
}

#[derive(Debug)]
struct Shared {
    check_now: Notify,
    status: Mutex<Status>,
    alias: String,
}

/// The running follower: ask for a check now, read its last outcome, stop it.
#[derive(Debug, Clone)]
pub struct FollowHandle {
    shared: Arc<Shared>,
    task: Arc<JoinHandle<()>>,
}

impl FollowHandle {
    /// Checks the alias at once (SIGHUP), without waiting for the interval.
    pub fn check_now(&self) {
        self.shared.check_now.notify_one();
    }

    /// The followed alias (MODEL_ALIAS).
    pub fn alias(&self) -> &str {
        &self.shared.alias
    }

    /// The last check's outcome, if there was one.
    pub fn last(&self) -> Option<RefreshStatus> {
        self.status().last.clone()
    }

    /// Seconds since the alias was last checked (since start-up before the first check).
    pub fn seconds_since_check(&self, started: Instant) -> f64 {
        self.status().last_check.unwrap_or(started).elapsed().as_secs_f64()
    }

    pub fn stop(&self) {
        self.task.abort();
    }

    fn status(&self) -> MutexGuard<'_, Status> {
        self.shared.status.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Starts following `follow` into `current`: every `interval` (none when zero) and on
/// [`FollowHandle::check_now`].
pub fn spawn(follow: Follow, current: Arc<CurrentModel>, metrics: Arc<Metrics>, interval: Duration) -> FollowHandle {
    let shared = Arc::new(Shared {
        check_now: Notify::new(),
        status: Mutex::new(Status::default()),
        alias: follow.alias.clone(),
    });
    let task = tokio::spawn(run(follow, current, metrics, interval, shared.clone()));
    FollowHandle { shared, task: Arc::new(task) }
}

async fn run(
    mut follow: Follow,
    current: Arc<CurrentModel>,
    metrics: Arc<Metrics>,
    interval: Duration,
    shared: Arc<Shared>,
) {
    loop {
        if interval.is_zero() {
            shared.check_now.notified().await;
        } else {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = shared.check_now.notified() => {}
            }
        }
        let was_missing = shared
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last
            .as_ref()
            .is_some_and(|l| l.outcome == "missing");
        let outcome = check(&mut follow, &current, &metrics, was_missing).await;
        let mut status = shared.status.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        status.last_check = Some(Instant::now());
        status.last = Some(outcome);
    }
}

/// One check of the alias; swaps in a new version when it names one. A missing alias is logged
/// once, not at every check (`was_missing`: the last check found it missing too).
async fn check(follow: &mut Follow, current: &CurrentModel, metrics: &Metrics, was_missing: bool) -> RefreshStatus {
    let status = |outcome: &str, version: Option<&str>, message: Option<String>| RefreshStatus {
        at: now_rfc3339(),
        outcome: outcome.to_string(),
        version: version.map(str::to_string),
        message,
    };
    let polled = follow.registry.poll_alias(&follow.name, &follow.alias, follow.etag.as_deref()).await;
    let (record, etag) = match polled {
        Ok(AliasPoll::Unchanged) => {
            let version = current.get().filter(|m| !m.fallback).map(|m| m.version.clone());
            return status("unchanged", version.as_deref(), None);
        }
        Ok(AliasPoll::Missing) => {
            follow.etag = None;
            if was_missing {
                return status("missing", None, None);
            }
            tracing::warn!(alias = %format!("{}@{}", follow.name, follow.alias), registry = %follow.root,
                "the followed alias does not exist; the current model keeps serving");
            return status("missing", None, None);
        }
        Ok(AliasPoll::Changed { record, etag }) => (record, etag),
        Err(e) => {
            let message = chain(&e);
            tracing::warn!(registry = %follow.root, error = %message, "checking the followed alias failed; trying again at the next check");
            metrics.model_reloads.with_label_values(&["error"]).inc();
            return status("error", None, Some(message));
        }
    };
    let version = record.version.as_str();
    if current.get().is_some_and(|m| !m.fallback && m.version == version) {
        follow.etag = etag;
        return status("unchanged", Some(version), None);
    }
    let started = Instant::now();
    match model_loader::from_registry(&follow.registry, &follow.root, &follow.name, version, Some(&follow.alias)).await
    {
        Ok(model) => {
            tracing::info!(version, elapsed_ms = started.elapsed().as_millis() as u64, "new model version verified");
            current.set(model);
            follow.etag = etag;
            metrics.model_reloads.with_label_values(&["swapped"]).inc();
            status("swapped", Some(version), None)
        }
        Err(e) if is_transient(&e) => {
            let message = chain(&e);
            tracing::warn!(version, error = %message, "fetching the new model version failed; trying again at the next check");
            metrics.model_reloads.with_label_values(&["error"]).inc();
            status("error", Some(version), Some(message))
        }
        Err(e) => {
            let message = chain(&e);
            tracing::error!(version, error = %message, "new model version refused; the current model keeps serving");
            // Not tried again until the alias moves.
            follow.etag = etag;
            metrics.model_reloads.with_label_values(&["refused"]).inc();
            status("refused", Some(version), Some(message))
        }
    }
}

/// A failure to reach the registry (worth another try), as opposed to a version that is bad.
fn is_transient(e: &LoadError) -> bool {
    match e {
        LoadError::Registry { source, .. } => matches!(**source, RegistryError::Storage(_)),
        LoadError::Task { .. } => true,
        _ => false,
    }
}
