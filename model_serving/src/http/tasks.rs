//! Engine task routes: `GET /tasks/{id}/status`, and the mapping of queue answers to HTTP.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody, ErrorCode};
use crate::core_engine::{ServiceTask, SubmitError, TaskStatus};

/// Answer to an engine task message on `POST /compute`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "Task added to the queue"}))]
pub struct TaskAccepted {
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "processing"}))]
pub struct TaskStatusBody {
    pub status: TaskStatus,
}

/// Current status of an engine task (pending, fetching, processing, saving, finished, error).
/// Finished tasks stay known for an hour (at most the last 1,000).
#[utoipa::path(get, path = "/tasks/{id}/status", tag = "engine",
    params(("id" = String, Path, description = "Engine task id")),
    responses(
        (status = 200, body = TaskStatusBody),
        (status = 404, description = "Unknown task, or finished too long ago", body = ErrorBody)
    ))]
pub async fn task_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskStatusBody>, ApiError> {
    match state.tasks.status(&id) {
        Some(status) => Ok(Json(TaskStatusBody { status })),
        None => Err(ApiError::not_found(format!(
            "task {id:?} is not known here: it was never sent to this service or finished over an hour ago"
        ))),
    }
}

/// Queues an engine task; the engine only reads the status code (200 or not).
pub fn submit(state: &AppState, task: ServiceTask) -> Result<TaskAccepted, ApiError> {
    match state.tasks.submit(task) {
        Ok(()) => Ok(TaskAccepted { status: "Task added to the queue".into() }),
        Err(e @ SubmitError::Invalid(_)) => Err(ApiError::invalid(e.to_string())),
        Err(SubmitError::Refused(refusal)) => Err(ApiError::new(ErrorCode::TaskRefused, refusal.to_string())),
        Err(e @ SubmitError::QueueFull(_)) => Err(ApiError::new(ErrorCode::QueueFull, format!("Queue is full: {e}"))),
        Err(e @ SubmitError::ShuttingDown) => Err(ApiError::new(ErrorCode::ShuttingDown, e.to_string())),
    }
}
