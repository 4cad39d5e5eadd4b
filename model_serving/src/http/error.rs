//! The one error shape of the API, `{"error": {"code", "message", "details"}}`, and how each
//! failure maps to a status code. Messages say what was wrong and what to send instead.

use axum::Json;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use model_core::DataError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::inference::{AdmissionError, InferenceError};

/// `Retry-After` of a 503 memory_budget_exceeded, in seconds.
pub const RETRY_AFTER_SECONDS: u64 = 2;

/// What went wrong, as clients match on it (`error.code`); it decides the status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body cannot be read as CSV or JSON.
    UnparsableBody,
    /// 400: a query parameter has a value the route does not take (`explain`, `explain_top`).
    InvalidParameter,
    /// 400: the request is not valid HTTP/1.1 (request line, a header, Content-Length).
    MalformedRequest,
    /// 401: API_KEY is set and the request has no `Authorization: Bearer` with it.
    Unauthorized,
    /// 403: an engine task message this service does not take (ENGINE_URLS empty, or a host
    /// outside ENGINE_URLS/ENGINE_CALLBACK_HOSTS/ENGINE_S3_HOSTS); nothing was fetched or called.
    TaskRefused,
    /// 404: no such route, task or Swagger UI file.
    NotFound,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 408: the request took longer than REQUEST_TIMEOUT, or its headers than HEADER_READ_TIMEOUT.
    RequestTimeout,
    /// 413: the body is over MAX_BODY_BYTES.
    PayloadTooLarge,
    /// 414: the request target (path and query) is too long.
    UriTooLong,
    /// 415: a Content-Type other than text/csv, text/plain or application/json.
    UnsupportedMediaType,
    /// 415: a Content-Encoding other than gzip or identity.
    UnsupportedEncoding,
    /// 422: the data does not fit the model, or a task message is not valid.
    InvalidInput,
    /// 431: the request head is over hyper's limits (100 headers, about 400 KiB).
    HeadersTooLarge,
    /// 500: scoring failed unexpectedly (a bug).
    InternalError,
    /// 503: the engine task queue is full (MAX_TASKS).
    QueueFull,
    /// 503: the service is shutting down.
    ShuttingDown,
    /// 503: MEMORY_BUDGET is taken by other large requests; retry after `Retry-After` seconds.
    MemoryBudgetExceeded,
    /// 503: no model yet: the followed registry alias (MODEL_REGISTRY, MODEL_NAME, MODEL_ALIAS)
    /// does not exist and MODEL_PATH holds no model; the service is unready until one is promoted.
    ModelNotReady,
    /// 503 (readiness only): streaming is on (MQTT_URL) and the broker is not connected.
    BrokerNotConnected,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::UnparsableBody | ErrorCode::MalformedRequest | ErrorCode::InvalidParameter => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::TaskRefused => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UriTooLong => StatusCode::URI_TOO_LONG,
            ErrorCode::UnsupportedMediaType | ErrorCode::UnsupportedEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::QueueFull
            | ErrorCode::ShuttingDown
            | ErrorCode::MemoryBudgetExceeded
            | ErrorCode::ModelNotReady
            | ErrorCode::BrokerNotConnected => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Error body of every non-2xx answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": {
    "code": "invalid_input",
    "message": "request body: line 3: column \"pressure\": \"abc\" is not a number",
    "details": {"kind": "not_numeric", "input": "request body", "line": 3, "column": "pressure", "value": "abc"}
}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code; it decides the status code.
    pub code: ErrorCode,
    /// What happened and what to do, for a person.
    pub message: String,
    /// Structured facts: row, line, column, limits (an empty object when there are none).
    #[schema(value_type = Object)]
    pub details: Value,
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), details: json!({}) }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    pub fn unparsable(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::UnparsableBody, message)
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidInput, message)
    }

    pub fn too_large(limit: usize, length: Option<u64>) -> ApiError {
        let size = length.map_or_else(|| "The request body".to_string(), |n| format!("The request body ({n} bytes)"));
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("{size} is over the limit of {limit} bytes (MAX_BODY_BYTES); split the data into smaller requests"),
        )
        .with_details(json!({"limit_bytes": limit, "content_length": length}))
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InternalError, message)
    }
}

impl ApiError {
    fn into_body(self) -> ErrorBody {
        ErrorBody { error: ErrorDetail { code: self.code, message: self.message, details: self.details } }
    }

    /// The body as JSON bytes, for answers written outside the router (protocol errors).
    pub fn into_json(self) -> Vec<u8> {
        // Serializing these plain fields cannot fail; an empty object keeps the answer JSON anyway.
        serde_json::to_vec(&self.into_body()).unwrap_or_else(|_| b"{}".to_vec())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code;
        let mut response = (status, Json(self.into_body())).into_response();
        if code == ErrorCode::Unauthorized {
            // RFC 6750: a 401 names the scheme the client must use.
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if code == ErrorCode::MemoryBudgetExceeded {
            // Large requests take seconds each: by then one has usually given its memory back.
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

impl From<DataError> for ApiError {
    fn from(e: DataError) -> ApiError {
        let details = data_error_details(&e);
        let message = e.to_string();
        if e.is_unparsable() { ApiError::unparsable(message) } else { ApiError::invalid(message) }.with_details(details)
    }
}

impl From<InferenceError> for ApiError {
    fn from(e: InferenceError) -> ApiError {
        match e {
            InferenceError::Data(d) => d.into(),
            e @ InferenceError::NoModel(_) => ApiError::new(ErrorCode::ModelNotReady, e.to_string()),
            InferenceError::Internal(m) => {
                tracing::error!(error = %m, "scoring failed");
                ApiError::internal(format!("{m}; the request was not scored, please report this"))
            }
        }
    }
}

impl From<AdmissionError> for ApiError {
    fn from(e: AdmissionError) -> ApiError {
        let message = e.to_string();
        match e {
            AdmissionError::OverBudget { body, needed, budget } => ApiError::new(ErrorCode::PayloadTooLarge, message)
                .with_details(json!({"body_bytes": body, "estimated_bytes": needed, "memory_budget_bytes": budget})),
            AdmissionError::Busy { needed, budget } => ApiError::new(ErrorCode::MemoryBudgetExceeded, message)
                .with_details(json!({"estimated_bytes": needed, "memory_budget_bytes": budget,
                    "retry_after_seconds": RETRY_AFTER_SECONDS})),
        }
    }
}

/// The fields of a data error as JSON, so a client can point at the cell without parsing text.
fn data_error_details(e: &DataError) -> Value {
    let input = e.input();
    match e {
        DataError::Io { message, .. } => json!({"kind": "io", "input": input, "reason": message}),
        DataError::Empty { .. } => json!({"kind": "empty", "input": input}),
        DataError::NoRows { needed, .. } => json!({"kind": "no_rows", "input": input, "needed": needed}),
        DataError::DuplicateColumn { line, column, .. } => {
            json!({"kind": "duplicate_column", "input": input, "line": line, "column": column})
        }
        DataError::NotNumeric { line, column, value, .. } => {
            json!({"kind": "not_numeric", "input": input, "line": line, "column": column, "value": value})
        }
        DataError::NotFinite { line, column, value, .. } => {
            json!({"kind": "not_finite", "input": input, "line": line, "column": column, "value": value})
        }
        DataError::Ragged { line, expected, found, .. } => {
            json!({"kind": "ragged", "input": input, "line": line, "expected": expected, "found": found})
        }
        DataError::MissingColumns { missing, required, available, .. } => json!({
            "kind": "missing_columns", "input": input, "missing": missing, "required": required, "available": available
        }),
        DataError::TooFewRows { rows, window, .. } => {
            json!({"kind": "too_few_rows", "input": input, "rows": rows, "window": window})
        }
        DataError::WrongRowLength { row, expected, found, features, .. } => json!({
            "kind": "wrong_row_length", "input": input, "row": row, "expected": expected, "found": found,
            "features": features
        }),
        DataError::UnequalColumns { column, first, expected, found, .. } => json!({
            "kind": "unequal_columns", "input": input, "column": column, "first": first, "expected": expected,
            "found": found
        }),
        DataError::NoFeatures { ignored, available, .. } => {
            json!({"kind": "no_features", "input": input, "ignored": ignored, "available": available})
        }
        DataError::MissingGroupColumn { column, available, .. } => {
            json!({"kind": "missing_group_column", "input": input, "column": column, "available": available})
        }
        DataError::EmptyGroup { line, column, .. } => {
            json!({"kind": "empty_group", "input": input, "line": line, "column": column})
        }
        DataError::UnknownGroup { column, group, row, known, .. } => json!({
            "kind": "unknown_group", "input": input, "column": column, "group": group, "row": row, "known": known
        }),
        DataError::Invalid { message, .. } => json!({"kind": "invalid", "input": input, "reason": message}),
    }
}
