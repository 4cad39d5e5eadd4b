//! Request middleware of the transport layer: per-route metrics and the request timeout.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::metrics::Metrics;

/// Keeps the in-flight gauge right even when a client disconnects and the request is dropped.
struct InFlight(Arc<Metrics>);

impl InFlight {
    fn start(metrics: &Arc<Metrics>) -> InFlight {
        metrics.in_flight.inc();
        InFlight(metrics.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

/// Counts requests by route template (not raw path, so ids do not explode the label set),
/// method and status, and observes latency.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Both are reference-counted or inline: no copy of the strings per request.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let _in_flight = InFlight::start(&state.metrics);
    let started = Instant::now();
    let response = next.run(req).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    state.metrics.latency.with_label_values(&[route]).observe(started.elapsed().as_secs_f64());
    state.metrics.requests.with_label_values(&[route, method.as_str(), response.status().as_str()]).inc();
    response
}

/// Ends a request that runs past REQUEST_TIMEOUT with a JSON 408.
pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.config.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request took longer than {:.1} s (REQUEST_TIMEOUT); send fewer rows per request",
                limit.as_secs_f64()
            ),
        )
        .into_response(),
    }
}
