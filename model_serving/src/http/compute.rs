//! `POST /compute`: synchronous scoring of CSV or JSON rows, and the entry point of engine tasks
//! (a JSON body with the engine's task shape is queued instead of scored).

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::tasks::TaskAccepted;
use crate::error_text::chain;
use crate::inference::{Input, Report};

/// Input name used in error messages about a request body.
pub const REQUEST_BODY: &str = "request body";

/// JSON input: rows in the model's feature order, or named columns (extra columns ignored).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ComputeJson {
    Rows(RowsBody),
    Columns(ColumnsBody),
    Task(Box<crate::core_engine::ServiceTask>),
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"rows": [[20.1, 3.02, 49.5, 10.2, 0.55, 229.8], [20.3, 3.01, 50.2, 10.1, 0.56, 230.1]]}))]
pub struct RowsBody {
    /// One array per row, values in the order of the model's `features` (see `GET /model`).
    pub rows: Vec<Vec<f64>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"columns": {"temperature": [20.1, 20.3], "pressure": [3.02, 3.01], "flow": [49.5, 50.2],
    "current": [10.2, 10.1], "vibration": [0.55, 0.56], "voltage": [229.8, 230.1]}}))]
pub struct ColumnsBody {
    /// Feature name to its values; every feature of the model must be present, extras are ignored.
    pub columns: HashMap<String, Vec<f64>>,
}

/// Score rows with the autoencoder, or queue an engine task.
///
/// `text/csv` (or `text/plain`): a header line, then numeric rows; columns are matched to the
/// model's features by name, in any order, and other columns (timestamps, labels) are ignored.
/// `application/json`: `{"rows": [[...]]}` in feature order or `{"columns": {"name": [...]}}`.
/// A JSON body in the core engine's task shape is validated and queued (answer
/// `{"status": "Task added to the queue"}`, or 503 when the queue is full).
#[utoipa::path(
    post,
    path = "/compute",
    tag = "scoring",
    request_body(
        description = "CSV with a header, or JSON rows/columns, or an engine task message",
        content(
            (String = "text/csv", example = "timestamp,temperature,pressure,flow,current,vibration,voltage\n2024-01-01T00:00:00,20.1,3.02,49.5,10.2,0.55,229.8\n"),
            (ComputeJson = "application/json")
        )
    ),
    responses(
        (status = 200, description = "Scores, threshold and anomalous rows (or, for an engine task, the queue receipt)",
            content((Report = "application/json"), (TaskAccepted = "application/json"))),
        (status = 400, description = "The body cannot be read as CSV or JSON", body = ErrorBody),
        (status = 408, description = "Scoring took longer than REQUEST_TIMEOUT", body = ErrorBody),
        (status = 413, description = "Body larger than MAX_BODY_BYTES", body = ErrorBody),
        (status = 415, description = "Content-Type is not text/csv, text/plain or application/json", body = ErrorBody),
        (status = 422, description = "Missing columns, non-numeric cells, too few rows for a window; names row and column",
            body = ErrorBody),
        (status = 503, description = "Engine task queue is full (MAX_TASKS) or the service is shutting down",
            body = ErrorBody)
    )
)]
pub async fn compute(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let kind = body_kind(&headers)?;
    let bytes = read_body(body, &headers, state.config.max_body_bytes).await?;
    let parsed = match kind {
        BodyKind::Csv => Parsed::Score(Input::Csv(bytes)),
        // Large JSON bodies are parsed on the blocking pool, like large CSV.
        BodyKind::Json => state.scorer.run_sized(bytes.len(), move || Ok(parse_json(&bytes))).await??,
    };
    match parsed {
        Parsed::Score(input) => {
            let scored = state.scorer.score(input, REQUEST_BODY.to_string()).await?;
            Ok(Json(state.scorer.report(scored.scores)).into_response())
        }
        Parsed::Task(task) => super::tasks::submit(&state, *task).map(IntoResponse::into_response),
    }
}

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

/// Reads the whole body, refusing it as soon as it is known to exceed `limit`.
///
/// Into one buffer sized from Content-Length: collecting the chunks first and joining them after
/// would hold every large body twice while it arrives.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit, declared));
    }
    let mut buffer = BytesMut::with_capacity(declared.map_or(0, |n| n as usize));
    let mut body = http_body_util::Limited::new(body, limit);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
            while let Some(err) = source {
                if err.is::<http_body_util::LengthLimitError>() {
                    return ApiError::too_large(limit, declared);
                }
                source = err.source();
            }
            ApiError::unparsable(format!(
                "{REQUEST_BODY}: the body could not be read completely: {}",
                chain(e.as_ref())
            ))
        })?;
        if let Ok(data) = frame.into_data() {
            buffer.extend_from_slice(&data);
        }
    }
    Ok(buffer.freeze())
}

enum Parsed {
    Score(Input),
    Task(Box<crate::core_engine::ServiceTask>),
}

/// Only the keys that decide the shape; the task itself is parsed again, strictly, when present.
#[derive(Deserialize)]
struct JsonShape {
    rows: Option<Vec<Vec<f64>>>,
    columns: Option<HashMap<String, Vec<f64>>>,
    task: Option<IgnoredAny>,
    callback_url: Option<IgnoredAny>,
}

const JSON_HINT: &str =
    "expected {\"rows\": [[number, ...], ...]} or {\"columns\": {\"name\": [number, ...]}} or an engine task message";

fn parse_json(bytes: &[u8]) -> Result<Parsed, ApiError> {
    let shape: JsonShape = from_json(bytes)?;
    if shape.task.is_some() || shape.callback_url.is_some() {
        let task: crate::core_engine::ServiceTask = from_json(bytes)?;
        return Ok(Parsed::Task(Box::new(task)));
    }
    match (shape.rows, shape.columns) {
        (Some(rows), None) => Ok(Parsed::Score(Input::Rows(rows))),
        (None, Some(columns)) => Ok(Parsed::Score(Input::Columns(columns))),
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

#[cfg(test)]
mod tests {
    use std::io;

    use axum::http::HeaderValue;
    use tokio::io::AsyncReadExt;
    use tokio_test::io::{Builder, Mock};

    use super::*;

    /// A request body that arrives as the mock's reads: one frame per read, then its error.
    fn body(mock: Mock) -> Body {
        Body::from_stream(futures_util::stream::unfold(Some(mock), |mock| async move {
            let mut mock = mock?;
            let mut buf = vec![0; 1024];
            match mock.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), Some(mock)))
                }
                Err(e) => Some((Err(e), None)),
            }
        }))
    }

    fn content_length(n: u64) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        headers
    }

    #[tokio::test]
    async fn a_chunked_body_is_read_whole() {
        let mock = Builder::new().read(b"temperature,pressure\n").read(b"20.1,3.02\n").read(b"20.3,3.01\n").build();
        let bytes = read_body(body(mock), &HeaderMap::new(), 1024).await.unwrap();
        assert_eq!(&bytes[..], b"temperature,pressure\n20.1,3.02\n20.3,3.01\n");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_on_its_length_or_while_it_arrives() {
        // Declared too long: refused before reading (reading would meet the error instead).
        let mock = Builder::new().read_error(io::Error::other("must not be read")).build();
        let e = read_body(body(mock), &content_length(100), 10).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::PayloadTooLarge);
        assert_eq!(e.details["content_length"], 100);

        // No length: refused as soon as the frames pass the limit.
        let mock = Builder::new().read(b"0123456").read(b"789abc").build();
        let e = read_body(body(mock), &HeaderMap::new(), 10).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::PayloadTooLarge);
        assert!(e.message.contains("10 bytes (MAX_BODY_BYTES)"), "{}", e.message);

        let mock = Builder::new().read(b"0123456789").build();
        assert_eq!(read_body(body(mock), &HeaderMap::new(), 10).await.unwrap().len(), 10, "the limit itself is fine");
    }

    #[tokio::test]
    async fn a_broken_off_body_is_400_with_what_broke_it() {
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer");
        let mock = Builder::new().read(b"temperature,pressure\n20.1,").read_error(reset).build();
        let e = read_body(body(mock), &content_length(40), 1024).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::UnparsableBody);
        assert!(e.message.contains("could not be read completely"), "{}", e.message);
        assert!(e.message.contains("connection reset by peer"), "the cause is in the message: {}", e.message);
    }
}
