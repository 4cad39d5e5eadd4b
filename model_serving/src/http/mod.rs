//! The HTTP transport: axum router, handlers and their utoipa-annotated types, error mapping,
//! and the middleware stack (request id, tracing, CORS, metrics, timeout). Scoring itself lives
//! in [`crate::inference`], engine tasks in [`crate::core_engine`]; the live page's files in
//! `model_serving/ui/`.

pub mod auth;
pub mod body;
pub mod compute;
pub mod error;
pub mod middleware;
pub mod openapi;
pub mod server;
pub mod service;
pub mod tasks;
pub mod ui;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderName, HeaderValue, Method, Request};
use axum::routing::get;
use axum::{Extension, Router};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{Config, CorsOrigins};
use crate::core_engine::Tasks;
use crate::inference::Scorer;
use crate::metrics::Metrics;
use crate::model_follow::FollowHandle;

/// Set when shutdown starts: readiness turns 503 so load balancers stop sending traffic.
#[derive(Debug, Default)]
pub struct Lifecycle {
    draining: AtomicBool,
}

impl Lifecycle {
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

#[derive(Clone, Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    pub scorer: Scorer,
    pub metrics: Arc<Metrics>,
    pub lifecycle: Arc<Lifecycle>,
    pub tasks: Tasks,
    /// The registry alias follower, when MODEL_REGISTRY names an alias.
    pub follow: Option<FollowHandle>,
    /// When the service started (the alias check age before the first check).
    pub started: std::time::Instant,
    /// Whether the MQTT broker is connected, when streaming is on (MQTT_URL).
    pub broker_connected: Option<Arc<AtomicBool>>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// CORS_ORIGINS: any origin or the listed ones, never with credentials (the API needs no
/// cookies; API_KEY travels in `Authorization`). Request headers are mirrored rather than `*`,
/// because a wildcard does not cover `Authorization` in browsers.
fn cors(origins: &CorsOrigins) -> CorsLayer {
    let allowed = match origins {
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().filter_map(|o| HeaderValue::from_str(o).ok())),
    };
    CorsLayer::new()
        .allow_origin(allowed)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([REQUEST_ID])
}

/// The service's routes and middleware; fails only if the OpenAPI document cannot be serialized.
pub fn router(state: AppState) -> Result<Router, serde_json::Error> {
    let cors = cors(&state.config.cors_origins);
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<axum::body::Body>| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
        })
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
        // on_response already logs every status; the default on_failure would log each 503
        // (queue full) again as an ERROR.
        .on_failure(());

    // Each route once: the router and the OpenAPI document come from the same registrations.
    let (routes, api) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(compute::compute))
        .routes(routes!(tasks::task_status))
        .routes(routes!(service::status))
        .routes(routes!(service::live))
        .routes(routes!(service::ready))
        .routes(routes!(service::model))
        .routes(routes!(service::drift))
        .routes(routes!(service::recent_scores))
        .routes(routes!(service::metrics))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(openapi::root))
        .routes(routes!(openapi::docs_redirect))
        // The Swagger UI page itself, the same as `/docs/{file}` with no file: not in the document.
        .route("/docs/", get(openapi::docs_index))
        .routes(routes!(openapi::docs_file))
        .routes(routes!(ui::page))
        // Not in the document, like `/docs/`.
        .route("/ui/", get(ui::page_slash))
        .routes(routes!(ui::asset))
        .split_for_parts();
    let document = openapi::Document::new(&api)?;
    Ok(routes
        .fallback(service::not_found)
        .method_not_allowed_fallback(service::method_not_allowed)
        .layer(Extension(document))
        .layer(axum::middleware::from_fn_with_state(state.config.request_timeout, middleware::timeout))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::track))
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(cors)
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid)))
}
