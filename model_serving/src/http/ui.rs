//! `GET /ui`: the live page for a person at a browser. Its three files (`model_serving/ui/`)
//! are compiled into the binary: no build step, no CDN, nothing fetched from elsewhere. Every URL
//! the page uses is relative (`ui/app.js`, `compute`, `model`), so it works behind a path prefix.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::error::{ApiError, ErrorBody};

/// The page's files: name, content type, bytes.
const FILES: [(&str, &str, &str); 3] = [
    ("", "text/html; charset=utf-8", include_str!("../../ui/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../ui/app.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../ui/style.css")),
];

/// Only the page's own files and the service's own routes: no inline script, no other origin.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The live page: drop or paste a CSV to see it scored, plotted and explained, and the service's
/// recent scores and drift, refreshed on their own.
#[utoipa::path(get, path = "/ui", tag = "service",
    responses((status = 200, description = "The live page (HTML)", content_type = "text/html")))]
pub async fn page() -> Response {
    file("")
}

/// `/ui/` is not the page (its relative URLs would resolve under `/ui/`): back to `/ui`.
pub async fn page_slash() -> Redirect {
    Redirect::to("../ui")
}

/// A file of the live page (`app.js`, `style.css`).
#[utoipa::path(get, path = "/ui/{file}", tag = "service",
    params(("file" = String, Path, description = "A file of the page: app.js or style.css")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file", body = ErrorBody)
    ))]
pub async fn asset(Path(name): Path<String>) -> Response {
    file(&name)
}

fn file(name: &str) -> Response {
    let Some((_, content_type, body)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return ApiError::not_found(format!("/ui/{name}: no such file of the live page; open /ui")).into_response();
    };
    let mut response = ([(header::CONTENT_TYPE, *content_type)], *body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // A new binary can bring new files: the browser asks again rather than mixing versions.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
