//! The one error shape of the API, `{"error": {"code", "message", "details"}}`, and how each
//! failure maps to a status code. Messages say what was wrong and what to send instead.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use model_core::DataError;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::inference::InferenceError;

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
    /// Stable machine-readable code, e.g. `invalid_input`, `unparsable_body`, `payload_too_large`.
    pub code: String,
    /// What happened and what to do, for a person.
    pub message: String,
    /// Structured facts: row, line, column, limits (an empty object when there are none).
    #[schema(value_type = Object)]
    pub details: Value,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: json!({}) }
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    pub fn unparsable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "unparsable_body", message)
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message)
    }

    pub fn too_large(limit: usize, length: Option<u64>) -> ApiError {
        let size = length.map_or_else(|| "The request body".to_string(), |n| format!("The request body ({n} bytes)"));
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("{size} is over the limit of {limit} bytes (MAX_BODY_BYTES); split the data into smaller requests"),
        )
        .with_details(json!({"limit_bytes": limit, "content_length": length}))
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            ErrorBody { error: ErrorDetail { code: self.code.into(), message: self.message, details: self.details } };
        (self.status, Json(body)).into_response()
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
            InferenceError::Internal(m) => {
                tracing::error!(error = %m, "scoring failed");
                ApiError::internal(format!("{m}; the request was not scored, please report this"))
            }
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
        DataError::Invalid { message, .. } => json!({"kind": "invalid", "input": input, "reason": message}),
    }
}
