//! Service routes around scoring: status, health probes, model metadata, metrics, and the
//! answers for unknown routes and methods.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ErrorBody, ErrorCode};
use crate::drift::GroupError;
use crate::model_follow::RefreshStatus;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "Service is available"}))]
pub struct StatusBody {
    pub status: String,
}

/// Liveness of the service, as the core engine checks it (`{"status": "Service is available"}`).
#[utoipa::path(get, path = "/status", tag = "service", responses((status = 200, body = StatusBody)))]
pub async fn status() -> Json<StatusBody> {
    Json(StatusBody { status: "Service is available".into() })
}

/// Liveness probe: the process answers HTTP.
#[utoipa::path(get, path = "/health/live", tag = "service",
    responses((status = 200, body = StatusBody, example = json!({"status": "live"}))))]
pub async fn live() -> Json<StatusBody> {
    Json(StatusBody { status: "live".into() })
}

/// Readiness probe: a model is loaded and the service is not shutting down.
#[utoipa::path(get, path = "/health/ready", tag = "service", responses(
    (status = 200, body = StatusBody, example = json!({"status": "ready"})),
    (status = 503, description = "Shutting down (shutting_down), no model yet (model_not_ready: the followed \
        registry alias does not exist and MODEL_PATH holds no model), or the MQTT broker is not connected while \
        streaming is on (broker_not_connected)", body = ErrorBody)
))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<StatusBody>, ApiError> {
    if state.lifecycle.is_draining() {
        return Err(ApiError::new(
            ErrorCode::ShuttingDown,
            "the service is shutting down and finishing in-flight requests; send new requests to another replica",
        ));
    }
    state.scorer.require_model()?;
    if state.broker_connected.as_ref().is_some_and(|c| !c.load(std::sync::atomic::Ordering::SeqCst)) {
        return Err(ApiError::new(
            ErrorCode::BrokerNotConnected,
            format!(
                "streaming is on and the MQTT broker ({}) is not connected; the service keeps trying",
                state.config.mqtt_url.as_ref().map(ToString::to_string).unwrap_or_default()
            ),
        ));
    }
    Ok(Json(StatusBody { status: "ready".into() }))
}

/// The loaded model's metadata.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"name": "ae-anomaly-detection", "version": "20261123-1", "created_by": "model_creation 0.1.0",
    "source": "model_creation/model", "format_version": 2, "kind": "autoencoder", "explains": true,
    "features": ["temperature", "pressure", "flow", "current", "vibration", "voltage"],
    "window": {"length": 1, "stride": 1}, "point_aggregation": "max",
    "architecture": {"input": 6, "hidden": [32, 16, 16, 32]},
    "scoring": {"error_scale": [0.021, 0.034, 0.018, 0.027, 0.11, 0.025], "smoothing": 1},
    "threshold": {"value": 0.85, "method": "quantile", "q": 0.99, "calibration_scores": 2000},
    "training": {"data_md5": "5d41402abc4b2a76b9719d911017c592", "data_rows": 10000, "epochs_run": 50}}))]
pub struct ModelInfo {
    /// The registry's model name, or the metadata's.
    pub name: String,
    /// The registry version, or the metadata's: what responses name as `model_version`.
    pub version: String,
    pub created_by: String,
    /// MODEL_PATH, MODEL_URI or `MODEL_REGISTRY NAME:VERSION` it was loaded from.
    pub source: String,
    /// The registry alias followed (MODEL_ALIAS), if any.
    pub alias: Option<String>,
    /// When this model was swapped in, RFC 3339 UTC.
    pub loaded_at: String,
    /// True while MODEL_PATH is served because the followed alias does not exist yet.
    pub fallback: bool,
    /// The last check of the followed alias, if one was made.
    pub last_refresh: Option<RefreshStatus>,
    pub format_version: u32,
    /// The detector: `autoencoder` (scores are reconstruction errors) or `isolation_forest`.
    pub kind: String,
    /// Whether `/compute` can explain scores by feature (`explain`): an autoencoder's can, an
    /// Isolation Forest's cannot.
    pub explains: bool,
    /// Feature columns, in the order `{"rows": ...}` expects.
    pub features: Vec<String>,
    /// Rows per model input (1 = row by row) and the training stride.
    #[schema(value_type = Object)]
    pub window: serde_json::Value,
    /// How a point covered by several windows gets its score (max or mean).
    pub point_aggregation: String,
    #[schema(value_type = Object)]
    pub architecture: serde_json::Value,
    /// How reconstruction errors become scores: each feature's typical held-out squared error
    /// (its errors are divided by it; empty = plain mean squared error) and the trailing
    /// smoothing in windows (1 = none).
    #[schema(value_type = Object)]
    pub scoring: serde_json::Value,
    /// Threshold value and how it was calibrated.
    #[schema(value_type = Object)]
    pub threshold: serde_json::Value,
    /// Training data identity (md5, rows) and run summary.
    #[schema(value_type = Object)]
    pub training: serde_json::Value,
    /// Present when a model set is served (one model per group): its group column, members
    /// and fallback. The fields above are then its reference model's (the fallback, trained on
    /// every row, or else the first member): features, window and kind are every member's, each
    /// member has its own threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<SetInfo>,
}

/// A served model set.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"group_by": "machine", "groups": [
    {"group": "m01", "version": "3f2a9c01d4e5", "threshold": 0.91, "rows": 5040},
    {"group": "m02", "version": "8b0e61c2aa07", "threshold": 1.12, "rows": 5040}],
    "fallback": {"group": "", "version": "c3d8e1f0b2a4", "threshold": 1.3, "rows": 10080}, "skipped": []}))]
pub struct SetInfo {
    /// The column whose value picks a row's model (in CSV; `groups` in JSON).
    pub group_by: String,
    pub groups: Vec<SetMember>,
    /// The model that scores groups without a member, if the set has one.
    pub fallback: Option<SetMember>,
    /// Groups left out at training, with too few rows: the fallback scores them, or they are
    /// refused (unknown_group).
    pub skipped: Vec<String>,
}

/// One model of a served set.
#[derive(Debug, Serialize, ToSchema)]
pub struct SetMember {
    pub group: String,
    pub version: String,
    pub threshold: f64,
    /// Training rows.
    pub rows: usize,
}

/// Metadata of the model being served: version, where from, features, window, threshold,
/// training data identity, and the last check of a followed registry alias.
#[utoipa::path(get, path = "/model", tag = "service", responses(
    (status = 200, body = ModelInfo),
    (status = 503, description = "No model yet (model_not_ready)", body = ErrorBody)
))]
pub async fn model(State(state): State<AppState>) -> Result<Json<ModelInfo>, ApiError> {
    let served = state.scorer.require_model()?;
    let meta = served.model.meta();
    let to_json = |v: Result<serde_json::Value, serde_json::Error>| v.unwrap_or(serde_json::Value::Null);
    let t = &meta.training;
    Ok(Json(ModelInfo {
        name: served.name.clone(),
        version: served.version.clone(),
        created_by: meta.created_by.clone(),
        source: served.source.clone(),
        alias: state.follow.as_ref().map(|f| f.alias().to_string()),
        loaded_at: served.loaded_at.clone(),
        fallback: served.fallback,
        last_refresh: state.follow.as_ref().and_then(|f| f.last()),
        format_version: meta.format_version,
        kind: meta.kind.name().to_string(),
        explains: served.model.explains(),
        features: meta.features.clone(),
        window: to_json(serde_json::to_value(meta.window)),
        point_aggregation: to_json(serde_json::to_value(meta.point_aggregation)).as_str().unwrap_or("").to_string(),
        architecture: to_json(serde_json::to_value(&meta.architecture)),
        scoring: to_json(serde_json::to_value(&meta.scoring)),
        threshold: to_json(serde_json::to_value(&meta.threshold)),
        training: json!({
            "data_md5": t.data_md5, "data_rows": t.data_rows, "backend": t.backend, "epochs_run": t.epochs_run,
            "best_epoch": t.best_epoch, "final_train_loss": t.final_train_loss, "final_val_loss": t.final_val_loss,
            "params": t.params,
        }),
        set: served.model.set().map(|set| {
            let member = |m: &model_core::set::Member| SetMember {
                group: m.group.clone(),
                version: m.version.clone(),
                threshold: m.threshold,
                rows: m.rows,
            };
            let manifest = &set.manifest;
            SetInfo {
                group_by: manifest.group_by.clone(),
                groups: manifest.groups.iter().map(member).collect(),
                fallback: manifest.fallback.as_ref().map(member),
                skipped: manifest.skipped.iter().map(|s| s.group.clone()).collect(),
            }
        }),
    }))
}

/// `?group=` of `/drift` and `/scores/recent`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    /// A model set's group (for example a machine): that group's window alone. Any group the
    /// set has no member for reads its fallback's window.
    #[param(nullable = false)]
    pub group: Option<String>,
}

/// The query, or a 400 naming what is wrong with it.
fn group_query(query: Result<Query<GroupQuery>, QueryRejection>) -> Result<Option<String>, ApiError> {
    match query {
        Ok(Query(query)) => Ok(query.group),
        Err(e) => Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("the query string cannot be read ({}); send group=NAME, percent-encoded", e.body_text()),
        )),
    }
}

impl From<GroupError> for ApiError {
    fn from(e: GroupError) -> ApiError {
        let details = match &e {
            GroupError::NotASet(group) => json!({"group": group}),
            GroupError::Unknown { group, known } => json!({"group": group, "known": known}),
        };
        ApiError::not_found(e.to_string()).with_details(details)
    }
}

/// Drift of the recent inputs (the last DRIFT_WINDOW rows scored) against the served model's
/// training distribution: per feature the population stability index over the training deciles
/// with its reading (< 0.1 stable, > 0.25 shifted), the share of values outside the training
/// range, and both histograms; plus the anomaly rate over the same rows. A model trained before
/// drift tracking answers `tracking: false` with the reason. A model set answers per group
/// (each against its own model's training data) in `groups`, or for `?group=` alone.
#[utoipa::path(get, path = "/drift", tag = "service", params(GroupQuery), responses(
    (status = 200, body = crate::drift::DriftReport),
    (status = 400, description = "The query string cannot be read (invalid_parameter)", body = ErrorBody),
    (status = 404, description = "`group` names no group of the served model set, or the model is not a set \
        (not_found)", body = ErrorBody),
    (status = 503, description = "No model yet (model_not_ready)", body = ErrorBody)
))]
pub async fn drift(
    State(state): State<AppState>,
    query: Result<Query<GroupQuery>, QueryRejection>,
) -> Result<Json<crate::drift::DriftReport>, ApiError> {
    let group = group_query(query)?;
    let served = state.scorer.require_model()?;
    Ok(Json(state.scorer.drift_report(&served, group.as_deref())?))
}

/// The scores of the recent rows (the drift window's last DRIFT_WINDOW rows), grouped by the
/// request, engine task or batch of streamed readings that scored them, with its time: the
/// live chart of `/ui`. For a model set, every group's scores relative to their group's
/// threshold (`relative`, threshold 1), or `?group=`'s own scores.
#[utoipa::path(get, path = "/scores/recent", tag = "service", params(GroupQuery), responses(
    (status = 200, body = crate::drift::RecentScores),
    (status = 400, description = "The query string cannot be read (invalid_parameter)", body = ErrorBody),
    (status = 404, description = "`group` names no group of the served model set, or the model is not a set \
        (not_found)", body = ErrorBody),
    (status = 503, description = "No model yet (model_not_ready)", body = ErrorBody)
))]
pub async fn recent_scores(
    State(state): State<AppState>,
    query: Result<Query<GroupQuery>, QueryRejection>,
) -> Result<Json<crate::drift::RecentScores>, ApiError> {
    let group = group_query(query)?;
    let served = state.scorer.require_model()?;
    Ok(Json(state.scorer.recent_scores(&served, group.as_deref())?))
}

/// Prometheus metrics in text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "service", responses(
    (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4",
        body = String, example = "# TYPE model_serving_rows_scored_total counter\nmodel_serving_rows_scored_total 100\n")
))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.memory_reserved.set(i64::try_from(state.scorer.memory_reserved()).unwrap_or(i64::MAX));
    if let Some(served) = state.scorer.current() {
        // Without a group every window is reported, so this cannot fail.
        if let Ok(report) = state.scorer.drift_report(&served, None) {
            state.metrics.set_drift(&report);
        }
    }
    if let Some(follow) = &state.follow {
        state.metrics.alias_check_age.set(follow.seconds_since_check(state.started));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render()).into_response()
}

/// Answer for paths that match no route.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route {}; see /docs/ for the API (POST /compute, GET /ui, /status, /health/live, /health/ready, /model, /drift, /scores/recent, /metrics)",
        uri.path()
    ))
}

/// Answer for a known path with the wrong method.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{method} is not allowed on {}; see /docs/ for the methods each route takes", uri.path()),
    )
}
