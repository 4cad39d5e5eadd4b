//! The core engine's wire shapes, as observed on a real engine (ENGINE-PROTOCOL.md): the task
//! message it POSTs to `/compute`, the callback the service PATCHes back, and the service
//! description it announces.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

/// The engine's task message (`ServiceTask`) on `POST /compute`.
// Debug is written out below: it hides the secret key.
#[derive(Clone, Deserialize, ToSchema)]
#[schema(example = json!({
    "s3_access_key_id": "minio", "s3_secret_access_key": "minio123", "s3_region": "eu-central-2",
    "s3_host": "http://127.0.0.1:9000", "s3_bucket": "engine",
    "task": {"id": "479721da-c167-4e32-94fb-cbfd135196c4", "data_in": ["1fb1f249-3c0f-4267-8ab9-a33dff714669.csv"],
        "data_out": null, "status": "pending", "service_id": "ec5f1e6e-3ce7-42fc-a7c6-eafad52bbc79",
        "pipeline_execution_id": null, "pipeline_step_id": null, "error_message": null,
        "created_at": "2026-11-23T09:31:49.523657", "updated_at": "2026-11-23T09:32:40.652248"},
    "callback_url": "http://127.0.0.1:8080/tasks/479721da-c167-4e32-94fb-cbfd135196c4"}))]
pub struct ServiceTask {
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
    pub s3_region: String,
    /// S3 endpoint URL; objects are addressed path-style, `{s3_host}/{bucket}/{key}`.
    pub s3_host: String,
    pub s3_bucket: String,
    pub task: EngineTask,
    /// Where the result is PATCHed (`{engine}/tasks/{id}`).
    pub callback_url: String,
}

impl std::fmt::Debug for ServiceTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceTask")
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field("s3_secret_access_key", &"<redacted>")
            .field("s3_region", &self.s3_region)
            .field("s3_host", &self.s3_host)
            .field("s3_bucket", &self.s3_bucket)
            .field("task", &self.task)
            .field("callback_url", &self.callback_url)
            .finish()
    }
}

/// The task as the engine stores it; the service needs its id and input keys.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct EngineTask {
    pub id: String,
    /// S3 keys, one per `data_in_fields` entry, in that order.
    pub data_in: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub data_out: Option<Value>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub service_id: Option<String>,
    #[serde(default)]
    pub pipeline_execution_id: Option<String>,
    #[serde(default)]
    pub pipeline_step_id: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// Task statuses the service reports (a subset of the engine's enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Pending,
    Fetching,
    Processing,
    Saving,
    Finished,
    Error,
}

impl TaskStatus {
    pub fn is_final(self) -> bool {
        matches!(self, TaskStatus::Finished | TaskStatus::Error)
    }
}

/// The callback body (`TaskUpdate`): `data_out` is always a list, `[]` on error.
#[derive(Debug, Clone, Serialize)]
pub struct TaskUpdate {
    pub status: TaskStatus,
    pub data_out: Vec<String>,
    pub error_message: Option<String>,
}

pub const SERVICE_NAME: &str = "Autoencoder Anomaly Detection";
pub const SERVICE_SLUG: &str = "ae-anomaly-detection";
pub const INPUT_FIELD: &str = "text";
pub const INPUT_TYPES: [&str; 2] = ["text/csv", "text/plain"];

/// The service description announced to (and PATCHed on) every engine.
pub fn service_description(service_url: &str) -> Value {
    json!({
        "name": SERVICE_NAME,
        "slug": SERVICE_SLUG,
        "url": service_url,
        "summary": "Anomaly detection on sensor and metric time series with a dense autoencoder.",
        "description": "Scores every row of a CSV (header + numeric columns, matched by name to the model's \
            features) by its reconstruction error and marks rows above the trained threshold as anomalies. \
            Outputs a plot of the series with anomalies marked (result, PNG) and the per-row scores (scores, JSON).",
        "status": "available",
        "data_in_fields": [{"name": INPUT_FIELD, "type": INPUT_TYPES}],
        "data_out_fields": [
            {"name": "result", "type": ["image/png"]},
            {"name": "scores", "type": ["application/json"]}
        ],
        "tags": [
            {"name": "Anomaly Detection", "acronym": "AD"},
            {"name": "Time Series", "acronym": "TS"}
        ],
        "has_ai": true,
        "docs_url": "https://docs.swiss-ai-center.ch/reference/services/ae-ano-detection/",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_task_message_never_shows_the_secret_key() {
        let secret = "minio-secret-4f9a1c";
        let task: ServiceTask = serde_json::from_value(json!({
            "s3_access_key_id": "minio", "s3_secret_access_key": secret, "s3_region": "eu-central-2",
            "s3_host": "http://127.0.0.1:9000", "s3_bucket": "engine",
            "task": {"id": "t1", "data_in": ["in.csv"]},
            "callback_url": "http://127.0.0.1:8080/tasks/t1"
        }))
        .unwrap();
        assert_eq!(task.s3_secret_access_key, secret);
        for shown in [format!("{task:?}"), format!("{task:#?}"), format!("{:?}", Some(Box::new(task.clone())))] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("<redacted>") && shown.contains("minio") && shown.contains("t1"), "{shown}");
        }
    }
}
