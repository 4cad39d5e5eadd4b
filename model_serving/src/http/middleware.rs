//! Request middleware of the transport layer: per-route metrics and the request timeout.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use crate::metrics::GaugeGuard;

/// Counts requests by route template (not raw path, so ids do not explode the label set),
/// method and status, and observes latency.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Both are reference-counted or inline: no copy of the strings per request.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let _in_flight = GaugeGuard::up(&state.metrics.in_flight);
    let started = Instant::now();
    let response = next.run(req).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    state.metrics.latency.with_label_values(&[route]).observe(started.elapsed().as_secs_f64());
    state.metrics.requests.with_label_values(&[route, method.as_str(), response.status().as_str()]).inc();
    response
}

/// Ends a request that runs past REQUEST_TIMEOUT (the state) with a JSON 408.
pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    within(limit, next.run(req)).await
}

/// `response`, or a 408 once `limit` has passed without it.
async fn within(limit: Duration, response: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(limit, response).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request took longer than {:.1} s (REQUEST_TIMEOUT); send fewer rows per request",
                limit.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use tokio::time::{advance, sleep};
    use tokio_test::{assert_pending, assert_ready, task};

    use super::*;

    async fn slow(seconds: f64) -> Response {
        sleep(Duration::from_secs_f64(seconds)).await;
        StatusCode::OK.into_response()
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_gets_408_exactly_at_the_limit_and_not_before() {
        let mut request = task::spawn(within(Duration::from_secs(30), slow(31.0)));
        assert_pending!(request.poll());
        advance(Duration::from_millis(29_999)).await;
        assert_pending!(request.poll());
        advance(Duration::from_millis(1)).await;
        let response = assert_ready!(request.poll());
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);

        let mut request = task::spawn(within(Duration::from_secs(30), slow(29.9)));
        assert_pending!(request.poll());
        advance(Duration::from_millis(29_900)).await;
        assert_eq!(assert_ready!(request.poll()).status(), StatusCode::OK, "an answer in time passes");
    }
}
