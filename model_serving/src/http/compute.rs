//! `POST /compute`: synchronous scoring of CSV or JSON rows, and the entry point of engine tasks
//! (a JSON body with the engine's task shape is queued instead of scored).

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::AppState;
use super::auth;
use super::body::{self, ContentCoding, Encoding, REQUEST_BODY};
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::tasks::TaskAccepted;
use crate::inference::{EXPLAIN_TOP, Explain, ExplainRows, Input, Report, Reservation, Scorer};

/// JSON input: rows in the model's feature order, or named columns (extra columns ignored).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ComputeJson {
    Rows(RowsBody),
    Columns(ColumnsBody),
    Task(Box<crate::core_engine::ServiceTask>),
}

// The examples are what the default model (6 features, window 4) scores: at least 4 rows.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"rows": [[20.1, 3.02, 49.5, 10.2, 0.55, 229.8], [20.3, 3.01, 50.2, 10.1, 0.56, 230.1],
    [20.2, 3.03, 49.8, 10.2, 0.54, 230.4], [20.4, 3.02, 50.1, 10.3, 0.55, 229.9], [20.3, 3.00, 49.9, 10.1, 0.57, 230.2]]}))]
pub struct RowsBody {
    /// One array per row, values in the order of the model's `features` (see `GET /model`); at
    /// least the model's window of rows.
    pub rows: Vec<Vec<f64>>,
    /// For a model set (`GET /model` `set`): each row's group, one per row.
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"columns": {"temperature": [20.1, 20.3, 20.2, 20.4, 20.3], "pressure": [3.02, 3.01, 3.03, 3.02, 3.0],
    "flow": [49.5, 50.2, 49.8, 50.1, 49.9], "current": [10.2, 10.1, 10.2, 10.3, 10.1],
    "vibration": [0.55, 0.56, 0.54, 0.55, 0.57], "voltage": [229.8, 230.1, 230.4, 229.9, 230.2]}}))]
pub struct ColumnsBody {
    /// Feature name to its values; every feature of the model must be present, extras are ignored.
    pub columns: HashMap<String, Vec<f64>>,
    /// For a model set (`GET /model` `set`): each row's group, one per row.
    pub groups: Option<Vec<String>>,
}

/// The 200 answer: the scores, or for an engine task message the queue receipt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ComputeAnswer {
    Scores(Report),
    Queued(TaskAccepted),
}

/// A CSV body the default model scores (a header and five rows, window 4).
const CSV_EXAMPLE: &str = "timestamp,temperature,pressure,flow,current,vibration,voltage
2024-01-01T00:00:00,20.1,3.02,49.5,10.2,0.55,229.8
2024-01-01T00:01:00,20.3,3.01,50.2,10.1,0.56,230.1
2024-01-01T00:02:00,20.2,3.03,49.8,10.2,0.54,230.4
2024-01-01T00:03:00,20.4,3.02,50.1,10.3,0.55,229.9
2024-01-01T00:04:00,20.3,3.00,49.9,10.1,0.57,230.2
";

/// Score rows with the autoencoder, or queue an engine task.
///
/// `text/csv` (or `text/plain`): a header line, then numeric rows; columns are matched to the
/// model's features by name, in any order, and other columns (timestamps, labels) are ignored.
/// `application/json`: `{"rows": [[...]]}` in feature order or `{"columns": {"name": [...]}}`.
/// A model set (one model per group, `GET /model` `set`) routes each row by its group: the
/// set's group column in CSV, or `"groups": [...]` (one per row) in JSON; a request may mix
/// groups (each group's windows are its own rows in order; scores come in the request's order).
/// At least the model's window of rows (see `GET /model`). The body may be gzip-compressed
/// (`Content-Encoding: gzip`). With API_KEY set, scoring needs `Authorization: Bearer <key>`.
/// A JSON body in the core engine's task shape is validated, checked against the allowed hosts
/// (ENGINE_URLS, ENGINE_CALLBACK_HOSTS, ENGINE_S3_HOSTS) and queued (answer
/// `{"status": "Task added to the queue"}`, or 503 when the queue is full).
#[utoipa::path(
    post,
    path = "/compute",
    tag = "scoring",
    params(
        ("Content-Encoding" = Option<ContentCoding>, Header, nullable = false, description = "gzip (or x-gzip) or identity, the default"),
        ("explain" = Option<ExplainRows>, Query, nullable = false, description = "Rows whose score is explained by \
            feature: anomalies (the default), all, or none. A model kind without explanations (GET /model \
            explains: false) answers without them by default and 400 when they are asked for."),
        ("explain_top" = Option<usize>, Query, nullable = false, minimum = 1, description = "Features named per \
            explained row, largest share first (default 3, at most the model's feature count)")
    ),
    request_body(
        description = "CSV with a header, or JSON rows/columns, or an engine task message",
        content(
            (String = "text/csv", example = json!(CSV_EXAMPLE)),
            (String = "text/plain", example = json!(CSV_EXAMPLE)),
            (ComputeJson = "application/json")
        )
    ),
    responses(
        (status = 200, description = "Scores, threshold and anomalous rows; for an engine task, the queue receipt",
            body = ComputeAnswer),
        (status = 400, description = "The body cannot be read as CSV or JSON (or gzip), or explain/explain_top has \
            a value the route does not take (invalid_parameter)", body = ErrorBody),
        (status = 401, description = "API_KEY is set and the request does not carry it as a bearer token",
            body = ErrorBody, headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 403, description = "An engine task message this service does not take (ENGINE_URLS empty, or a \
            callback or S3 host that is not allowed)", body = ErrorBody),
        (status = 408, description = "Scoring took longer than REQUEST_TIMEOUT", body = ErrorBody),
        (status = 413, description = "Body, or its decoded size, larger than MAX_BODY_BYTES, or needing more memory \
            to score than the whole MEMORY_BUDGET", body = ErrorBody),
        (status = 415, description = "Content-Type is not text/csv, text/plain or application/json, or \
            Content-Encoding is not gzip or identity", body = ErrorBody),
        (status = 422, description = "Missing columns, non-numeric cells, too few rows for a window, a group a model \
            set has no model of (unknown_group); names row and column",
            body = ErrorBody),
        (status = 503, description = "Engine task queue is full (MAX_TASKS), the service is shutting down, or \
            MEMORY_BUDGET is taken by other large requests (memory_budget_exceeded, with Retry-After)",
            body = ErrorBody, headers(("Retry-After" = String, description = "seconds, on memory_budget_exceeded")))
    ),
    security((), ("bearer" = []))
)]
pub async fn compute(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let kind = body_kind(&headers)?;
    let (explain, asked) = explain_query(query.as_deref())?;
    let encoding = body::encoding(&headers)?;
    let authorized = auth::authorized(&headers, state.config.api_key.as_ref());
    // CSV is never an engine task message: refused before its body is read.
    if !authorized && kind == BodyKind::Csv {
        return Err(auth::unauthorized(&headers));
    }
    let limit = state.config.max_body_bytes;
    // A large body's share of MEMORY_BUDGET is taken before the body is read, so a request
    // that waits for memory, or is refused, holds none; a body without Content-Length, or one
    // that decompresses, tops the share up once its size is known.
    let reservation = Reservation::default();
    let declared = body::declared_length(&headers).filter(|&n| n <= limit as u64);
    state.scorer.reserve(&reservation, declared.map_or(0, |n| n as usize)).await?;
    let bytes = body::read_body(body, &headers, limit).await?;
    state.scorer.reserve(&reservation, bytes.len()).await?;
    let bytes = match encoding {
        Encoding::Identity => bytes,
        Encoding::Gzip => {
            let size = bytes.len();
            let bytes = state.scorer.run_sized(size, &reservation, move || Ok(body::gunzip(&bytes, limit))).await??;
            state.scorer.reserve(&reservation, bytes.len()).await?;
            bytes
        }
    };
    let parsed = match kind {
        BodyKind::Csv => Parsed::Score(Input::Csv(bytes)),
        // Large JSON bodies are parsed on the blocking pool, like large CSV.
        BodyKind::Json => state.scorer.run_sized(bytes.len(), &reservation, move || Ok(parse_json(&bytes))).await??,
    };
    let answer = match parsed {
        Parsed::Score(_) if !authorized => return Err(auth::unauthorized(&headers)),
        Parsed::Score(input) => {
            if asked && explain.rows != ExplainRows::None {
                let served = state.scorer.require_model()?;
                if !served.model.explains() {
                    return Err(ApiError::new(
                        ErrorCode::InvalidParameter,
                        format!(
                            "the served model is an {} model, which has no per-feature explanation; leave out \
                             explain (or send explain=none)",
                            served.model.meta().kind.name()
                        ),
                    ));
                }
            }
            let scored = state.scorer.score(input, REQUEST_BODY.to_string(), &reservation, explain).await?;
            ComputeAnswer::Scores(Scorer::report(
                &scored.model,
                scored.scores,
                scored.explanations,
                scored.explanations_capped,
                scored.groups.as_deref(),
            ))
        }
        // Task messages carry no credentials: the host rules decide instead.
        Parsed::Task(task) => ComputeAnswer::Queued(super::tasks::submit(&state, *task)?),
    };
    // Serialised here, while the reservation still covers the scores being written out.
    let response = Json(answer).into_response();
    drop(reservation);
    Ok(response)
}

/// `explain` and `explain_top` from the query string (other parameters are ignored), and
/// whether the caller named `explain` at all.
fn explain_query(query: Option<&str>) -> Result<(Explain, bool), ApiError> {
    let mut explain = Explain::default();
    let mut asked = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "explain" => {
                asked = true;
                explain.rows = match value {
                    "anomalies" => ExplainRows::Anomalies,
                    "all" => ExplainRows::All,
                    "none" => ExplainRows::None,
                    other => {
                        return Err(invalid_parameter(format!(
                            "explain={other:?} is not a choice; send explain=anomalies (the default), all or none"
                        )));
                    }
                }
            }
            "explain_top" => {
                explain.top = value.parse::<usize>().ok().filter(|&n| n >= 1).ok_or_else(|| {
                    invalid_parameter(format!(
                        "explain_top={value:?} is not a whole number of at least 1; send the number of features \
                         to name per row (default {EXPLAIN_TOP})"
                    ))
                })?;
            }
            _ => {}
        }
    }
    Ok((explain, asked))
}

fn invalid_parameter(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameter, message)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Csv,
    Json,
}

fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
    let raw = headers.get(header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = raw.as_deref().map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("text/csv") | Some("text/plain") => Ok(BodyKind::Csv),
        Some("application/json") => Ok(BodyKind::Json),
        _ => {
            let what =
                raw.map_or_else(|| "A request without Content-Type".to_string(), |r| format!("Content-Type {r:?}"));
            Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "{what} is not supported; send text/csv (a header line and numeric rows) or application/json \
                     ({{\"rows\": [[...]]}} or {{\"columns\": {{\"name\": [...]}}}})"
                ),
            )
            .with_details(json!({"supported": ["text/csv", "text/plain", "application/json"]})))
        }
    }
}

/// What a JSON body asks for: rows or columns to score, or an engine task to queue.
#[derive(Debug)]
pub enum Parsed {
    Score(Input),
    Task(Box<crate::core_engine::ServiceTask>),
}

/// Only the keys that decide the shape; the task itself is parsed again, strictly, when present.
#[derive(Deserialize)]
struct JsonShape {
    rows: Option<Vec<Vec<f64>>>,
    columns: Option<HashMap<String, Vec<f64>>>,
    groups: Option<Vec<String>>,
    task: Option<IgnoredAny>,
    callback_url: Option<IgnoredAny>,
}

const JSON_HINT: &str =
    "expected {\"rows\": [[number, ...], ...]} or {\"columns\": {\"name\": [number, ...]}} or an engine task message";

/// Reads a JSON `/compute` body into its shape (rows, columns or an engine task message) with
/// the error the client gets: 400 for JSON syntax, 422 for the wrong shape, naming the path of
/// the offending value. Public for the fuzz target of the body.
pub fn parse_json(bytes: &[u8]) -> Result<Parsed, ApiError> {
    let shape: JsonShape = from_json(bytes)?;
    if shape.task.is_some() || shape.callback_url.is_some() {
        let task: crate::core_engine::ServiceTask = from_json(bytes)?;
        return Ok(Parsed::Task(Box::new(task)));
    }
    let with_groups = |input: Input| match shape.groups {
        Some(groups) => Input::Grouped(Box::new(input), groups),
        None => input,
    };
    match (shape.rows, shape.columns) {
        (Some(rows), None) => Ok(Parsed::Score(with_groups(Input::Rows(rows)))),
        (None, Some(columns)) => Ok(Parsed::Score(with_groups(Input::Columns(columns)))),
        (Some(_), Some(_)) => {
            Err(ApiError::invalid(format!("{REQUEST_BODY}: has both \"rows\" and \"columns\"; send one of them")))
        }
        (None, None) => Err(ApiError::invalid(format!("{REQUEST_BODY}: no \"rows\" or \"columns\"; {JSON_HINT}"))),
    }
}

/// Deserializes with the path of the offending value (`rows[3][2]`) in the message; syntax
/// errors are 400, well-formed JSON of the wrong shape is 422.
fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| json_error(&e.path().to_string(), e.inner()))?;
    de.end().map_err(|e| json_error(".", &e))?;
    Ok(value)
}

fn json_error(path: &str, inner: &serde_json::Error) -> ApiError {
    let details = json!({"path": path, "json_line": inner.line(), "json_column": inner.column()});
    if inner.is_data() {
        let at = if path == "." { String::new() } else { format!("{path}: ") };
        ApiError::invalid(format!("{REQUEST_BODY}: {at}{inner}; {JSON_HINT}")).with_details(details)
    } else {
        ApiError::unparsable(format!("{REQUEST_BODY}: not valid JSON: {inner}")).with_details(details)
    }
}
