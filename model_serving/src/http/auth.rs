//! API_KEY: the bearer token synchronous scoring asks for when it is set, as
//! text-embeddings-inference does. Engine task messages are not checked here (the core engine
//! sends no credentials); the host rules of `core_engine::hosts` decide about them.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use super::error::{ApiError, ErrorCode};
use crate::config::ApiKey;

/// Whether the request may score: no key is set, or it carries `Authorization: Bearer <key>`.
pub fn authorized(headers: &HeaderMap, key: Option<&ApiKey>) -> bool {
    let Some(key) = key else { return true };
    headers.get_all(AUTHORIZATION).iter().any(|value| bearer(value.as_bytes()).is_some_and(|token| key.matches(token)))
}

/// The token of a `Bearer` credential (the scheme in any case, RFC 7235).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then(|| token.trim_ascii())
}

/// The 401 (with `WWW-Authenticate: Bearer`); it says whether a token came and was wrong.
pub fn unauthorized(headers: &HeaderMap) -> ApiError {
    let message = if headers.contains_key(AUTHORIZATION) {
        "the Authorization header does not hold this service's API key; send `Authorization: Bearer <API_KEY>`"
    } else {
        "scoring needs the service's API key (API_KEY is set); send `Authorization: Bearer <API_KEY>`"
    };
    ApiError::new(ErrorCode::Unauthorized, message)
}
