//! The OpenAPI 3.1 document and its Swagger UI. The document is built once, by the router, from
//! the routes it registers (utoipa-axum): [`ApiDoc`] gives only what no route carries (title,
//! description, tags).

use std::sync::Arc;

use axum::Extension;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{ApiError, ErrorBody};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Autoencoder Anomaly Detection",
        description = "Scores sensor and metric rows by the reconstruction error of a dense autoencoder. \
            Rows above the model's threshold are anomalous. Also a Swiss AI Center core engine service \
            (`ae-anomaly-detection`).",
        license(name = "MIT")
    ),
    modifiers(&BearerAuth),
    // Named only by a header or query parameter, which utoipa-axum does not collect.
    components(schemas(super::body::ContentCoding, crate::inference::ExplainRows)),
    tags(
        (name = "scoring", description = "Anomaly scores for CSV or JSON rows"),
        (name = "engine", description = "Swiss AI Center core engine task protocol"),
        (name = "service", description = "Status, health, model metadata, metrics and documentation")
    )
)]
pub struct ApiDoc;

/// The `bearer` security scheme `POST /compute` names (optional: only with API_KEY set).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("API_KEY, when the service sets one (synchronous scoring only)"))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The finished document as served, serialized once.
#[derive(Debug, Clone)]
pub struct Document(Bytes);

impl Document {
    pub fn new(api: &utoipa::openapi::OpenApi) -> Result<Document, serde_json::Error> {
        serde_json::to_vec(api).map(|json| Document(Bytes::from(json)))
    }
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
pub async fn openapi_json(Extension(document): Extension<Document>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document.0).into_response()
}

/// `/` leads to the API documentation.
#[utoipa::path(get, path = "/", tag = "service",
    responses((status = 303, description = "Redirect to /docs/")))]
pub async fn root() -> Redirect {
    Redirect::to("/docs/")
}

/// The Swagger UI lives under `/docs/` (its files load relative to that path).
#[utoipa::path(get, path = "/docs", tag = "service",
    responses((status = 303, description = "Redirect to the Swagger UI at /docs/")))]
pub async fn docs_redirect() -> Redirect {
    Redirect::to("/docs/")
}

/// The Swagger UI page.
pub async fn docs_index() -> Response {
    swagger_file("")
}

/// Swagger UI page and its files (compiled in, no network needed).
#[utoipa::path(get, path = "/docs/{file}", tag = "service",
    params(("file" = String, Path, description = "A Swagger UI file, e.g. swagger-ui.css; empty for the page")),
    responses(
        (status = 200, description = "The Swagger UI page or one of its files", content_type = "text/html"),
        (status = 404, description = "No such file", body = ErrorBody)
    ))]
pub async fn docs_file(Path(file): Path<String>) -> Response {
    swagger_file(&file)
}

fn swagger_file(file: &str) -> Response {
    let config = Arc::new(utoipa_swagger_ui::Config::from("/openapi.json"));
    match utoipa_swagger_ui::serve(file, config) {
        Ok(Some(f)) => ([(header::CONTENT_TYPE, f.content_type)], f.bytes.into_owned()).into_response(),
        Ok(None) => ApiError::not_found(format!("/docs/{file}: no such Swagger UI file; open /docs/")).into_response(),
        Err(e) => ApiError::internal(format!("serving the Swagger UI failed: {e}")).into_response(),
    }
}
