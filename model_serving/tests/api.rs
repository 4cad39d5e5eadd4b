//! The HTTP API as a client sees it, against the real server on 127.0.0.1:0 with a model
//! trained in the test: scoring equal to model_core, every error status with its JSON body,
//! the service routes, CORS and request ids.

mod common;

use std::collections::HashMap;

use common::{csv_body, fixture, load_model, start, start_default};
use model_creation::simulate::FEATURES;
use model_serving::http::error::ErrorCode;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn post(r: &common::Running, content_type: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    post_to(r, "/compute", content_type, body).await
}

/// [`post`] to another path of the service (a query string, for instance).
async fn post_to(
    r: &common::Running,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let resp = r
        .client
        .post(format!("{}{path}", r.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text}"));
    (status, body)
}

fn scores_of(body: &Value) -> Vec<f32> {
    serde_json::from_value(body["scores"].clone()).unwrap()
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str, needles: &[&str]) {
    assert_eq!(status, expected, "{body}");
    let err = &body["error"];
    assert_eq!(err["code"], code, "{body}");
    let message = err["message"].as_str().unwrap();
    for n in needles {
        assert!(message.contains(n), "message {message:?} should mention {n:?}");
    }
    assert!(err["details"].is_object(), "details must be an object: {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_and_json_scores_equal_model_core_scoring() {
    let r = start_default().await;
    let rows = &fixture().test_rows[..300];
    let csv = csv_body(rows);
    let model = load_model();
    let (_, expected) = model.score_csv(csv.as_bytes(), "expected").unwrap();

    let (status, body) = post(&r, "text/csv", csv.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(scores_of(&body), expected.scores);
    assert_eq!(body["rows"], 300);
    assert_eq!(body["threshold"].as_f64().unwrap(), expected.threshold);
    let anomalies: Vec<usize> = serde_json::from_value(body["anomalies"].clone()).unwrap();
    assert_eq!(anomalies, expected.anomalies);
    assert_eq!(body["anomaly_count"], expected.anomalies.len());
    assert_eq!(body["model"], model.meta.name.as_str());
    assert_eq!(body["model_version"], model.meta.version.as_str());

    // JSON rows, in the model's feature order.
    let json_rows: Vec<Vec<f64>> = rows.iter().map(|r| r.to_vec()).collect();
    let (status, body) = post(&r, "application/json", json!({ "rows": json_rows }).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(scores_of(&body), expected.scores);

    // JSON columns, with an extra column that is ignored.
    let mut columns: HashMap<String, Vec<f64>> =
        FEATURES.iter().enumerate().map(|(j, f)| (f.to_string(), rows.iter().map(|r| r[j]).collect())).collect();
    columns.insert("label".into(), vec![0.0; rows.len()]);
    let (status, body) = post(&r, "application/json; charset=utf-8", json!({ "columns": columns }).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(scores_of(&body), expected.scores);

    // text/plain is read as CSV too (the engine's input field accepts it).
    let (status, body) = post(&r, "text/plain", csv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(scores_of(&body), expected.scores);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_large_bodies_is_answered_in_full_with_the_same_scores() {
    // Large bodies are scored on the blocking pool, at most one per core at a time: a burst of
    // them must queue, not fail, and score exactly as small ones do.
    let r = start_default().await;
    let rows: Vec<[f64; 6]> = fixture().test_rows.iter().cycle().take(2_000).copied().collect();
    let csv = csv_body(&rows);
    assert!(csv.len() > model_serving::inference::INLINE_MAX_BYTES, "the body must take the blocking path");
    let (_, expected) = load_model().score_csv(csv.as_bytes(), "expected").unwrap();
    let answers = futures_util::future::join_all((0..8).map(|_| post(&r, "text/csv", csv.clone()))).await;
    for (status, body) in answers {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(scores_of(&body), expected.scores);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_bodies_are_400_with_the_line() {
    let r = start_default().await;
    let mut csv = csv_body(&fixture().test_rows[..10]);
    csv.push_str("2024-01-02T00:00:00,1,2,3\n");
    let (status, body) = post(&r, "text/csv", csv).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "unparsable_body", &["line 12", "field(s)"]);
    assert_eq!(body["error"]["details"]["line"], 12);

    let (status, body) = post(&r, "text/csv", "").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "unparsable_body", &["empty"]);

    let (status, body) = post(&r, "application/json", r#"{"rows": [[1.0, 2.0"#).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "unparsable_body", &["not valid JSON"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_errors_name_the_line_an_editor_shows_whatever_ends_the_lines() {
    let r = start_default().await;
    let lines: Vec<String> = csv_body(&fixture().test_rows[..8]).lines().map(str::to_string).collect();
    for end in ["\n", "\r\n", "\r"] {
        // Header (line 1), 3 rows, 2 empty lines, then the bad row on line 7, then more rows.
        let mut text: Vec<String> = lines[..4].to_vec();
        text.extend(["".to_string(), "".to_string()]);
        let mut cells: Vec<String> = lines[4].split(',').map(str::to_string).collect();
        cells[2] = "n/a".into();
        text.push(cells.join(","));
        text.extend(lines[5..].iter().cloned());
        let (status, body) = post(&r, "text/csv", text.join(end) + end).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", &["line 7:", "n/a"]);
        assert_eq!(body["error"]["details"]["line"], 7, "{end:?}: {body}");

        // A ragged row after empty lines: 400, same line.
        let mut text: Vec<String> = lines[..4].to_vec();
        text.extend(["".to_string(), "".to_string(), "1,2,3".to_string()]);
        let (status, body) = post(&r, "text/csv", text.join(end) + end).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "unparsable_body", &["line 7:"]);
        assert_eq!(body["error"]["details"]["line"], 7, "{end:?}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn content_that_does_not_fit_the_model_is_422_naming_row_and_column() {
    let r = start_default().await;
    let rows = &fixture().test_rows[..20];

    let csv = csv_body(rows).replacen(",pressure", ",pressure_bar", 1);
    let (status, body) = post(&r, "text/csv", csv).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", &["missing column", "pressure"]);
    assert_eq!(body["error"]["details"]["missing"], json!(["pressure"]));

    let mut lines: Vec<String> = csv_body(rows).lines().map(str::to_string).collect();
    let mut cells: Vec<String> = lines[5].split(',').map(str::to_string).collect();
    cells[2] = "n/a".into(); // column order: timestamp, voltage, vibration, ...
    lines[5] = cells.join(",");
    let (status, body) = post(&r, "text/csv", lines.join("\n")).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", &["line 6", "vibration", "n/a"]);
    assert_eq!(body["error"]["details"]["column"], "vibration");

    // The default model scores windows of 4 rows: 3 rows are not enough.
    let window = load_model().meta.window.length;
    assert!(window > 1, "the default multivariate model is windowed");
    let (status, body) = post(&r, "text/csv", csv_body(&rows[..window - 1])).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", &["fewer than one window"]);

    let short = json!({"rows": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1.0, 2.0]]});
    let (status, body) = post(&r, "application/json", short.to_string()).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", &["row 1", "expected 6"]);

    let text = r#"{"rows": [[1,2,3,4,5,6], [1,2,"x",4,5,6]]}"#;
    let (status, body) = post(&r, "application/json", text).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", &["rows[1][2]", "string"]);

    let (status, body) = post(&r, "application/json", r#"{"columns": {"temperature": [1, 2]}}"#).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", &["missing column", "pressure"]);

    let (status, body) = post(&r, "application/json", r#"{"data": []}"#).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", &["\"rows\" or \"columns\""]);
}

#[tokio::test(flavor = "multi_thread")]
async fn other_content_types_are_415() {
    let r = start_default().await;
    let (status, body) = post(&r, "application/xml", "<rows/>").await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", &["application/xml"]);
    let resp = r.client.post(format!("{}/compute", r.base)).body("a,b\n1,2\n").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("without Content-Type"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_over_max_body_bytes_are_413_with_or_without_content_length() {
    let mut config = common::config_for(&fixture().model_dir);
    config.max_body_bytes = 4096;
    let r = start(config).await;
    let csv = csv_body(&fixture().test_rows[..200]);
    assert!(csv.len() > 4096);
    let (status, body) = post(&r, "text/csv", csv.clone()).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", &["4096 bytes", "MAX_BODY_BYTES"]);

    // Chunked upload: no Content-Length, the limit still holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = csv.as_bytes().chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let stream = futures_util::stream::iter(chunks);
    let (status, body) = post(&r, "text/csv", reqwest::Body::wrap_stream(stream)).await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", &["MAX_BODY_BYTES"]);

    // A body under the limit still scores.
    let (status, _) = post(&r, "text/csv", csv_body(&fixture().test_rows[..20])).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_slower_than_request_timeout_gets_408() {
    let mut config = common::config_for(&fixture().model_dir);
    config.request_timeout = std::time::Duration::from_millis(300);
    let r = start(config).await;
    // The client sends the start of a CSV and then nothing: the server must not wait forever.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(b"temperature,pressure\n".to_vec())).await.unwrap();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let (status, body) = post(&r, "text/csv", reqwest::Body::wrap_stream(stream)).await;
    assert_error(status, &body, StatusCode::REQUEST_TIMEOUT, "request_timeout", &["REQUEST_TIMEOUT"]);
    drop(tx);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_and_methods_answer_json_errors() {
    let r = start_default().await;
    let resp = r.client.get(format!("{}/nope", r.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    let resp = r.client.get(format!("{}/compute", r.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_health_model_and_root_routes() {
    let r = start_default().await;
    let get = |path: &str| r.client.get(format!("{}{path}", r.base)).send();
    let body: Value = get("/status").await.unwrap().json().await.unwrap();
    assert_eq!(body, json!({"status": "Service is available"}));
    let resp = get("/health/live").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = get("/health/ready").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let body: Value = get("/model").await.unwrap().json().await.unwrap();
    let model = load_model();
    assert_eq!(body["name"], model.meta.name.as_str());
    assert_eq!(body["features"], json!(model.meta.features));
    assert_eq!(body["threshold"]["value"].as_f64().unwrap(), model.meta.threshold.value);
    assert_eq!(body["window"]["length"], model.meta.window.length);
    assert_eq!(body["source"], fixture().model_dir.display().to_string());

    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = no_redirect.get(format!("{}/", r.base)).send().await.unwrap();
    assert!(resp.status().is_redirection());
    assert_eq!(resp.headers()["location"], "/docs/");
}

#[tokio::test(flavor = "multi_thread")]
async fn docs_serve_the_swagger_ui_pointing_at_the_openapi_document() {
    let r = start_default().await;
    let resp = r.client.get(format!("{}/docs", r.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let init = r.client.get(format!("{}/docs/swagger-initializer.js", r.base)).send().await.unwrap();
    assert_eq!(init.status(), StatusCode::OK);
    assert!(init.text().await.unwrap().contains("/openapi.json"));
    let bundle = r.client.get(format!("{}/docs/swagger-ui-bundle.js", r.base)).send().await.unwrap();
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(bundle.bytes().await.unwrap().len() > 100_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_document_is_valid_and_lists_every_route() {
    let r = start_default().await;
    let doc: Value = r.client.get(format!("{}/openapi.json", r.base)).send().await.unwrap().json().await.unwrap();
    for path in [
        "/compute",
        "/status",
        "/health/live",
        "/health/ready",
        "/model",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/",
        "/tasks/{id}/status",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    let compute = &doc["paths"]["/compute"]["post"];
    for status in ["200", "400", "413", "415", "422", "503"] {
        assert!(compute["responses"].get(status).is_some(), "/compute lacks {status}");
    }
    assert!(compute["requestBody"]["content"].get("text/csv").is_some());
    assert!(doc["components"]["schemas"]["Report"]["example"].is_object());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    if let Some(out) = common::run_tool("openapi-spec-validator", &[file.to_str().unwrap()], None) {
        assert!(
            out.status.success(),
            "openapi-spec-validator rejected the document:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

async fn preflight(r: &common::Running, origin: &str) -> reqwest::Response {
    r.client
        .request(reqwest::Method::OPTIONS, format!("{}/compute", r.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,authorization")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_allows_any_origin_without_credentials_or_the_listed_ones_and_request_ids_are_echoed() {
    let r = start_default().await;
    let resp = preflight(&r, "https://dashboard.example").await;
    assert!(resp.status().is_success(), "{}", resp.status());
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(h.get("access-control-allow-credentials").is_none(), "no credentials with any origin");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(h["access-control-allow-headers"].to_str().unwrap().contains("authorization"));

    let resp = r.client.get(format!("{}/status", r.base)).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
    let resp = r.client.get(format!("{}/status", r.base)).send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"].len(), 36, "a generated UUID");

    let mut config = common::config_for(&fixture().model_dir);
    config.cors_origins = model_serving::config::CorsOrigins::List(vec!["https://grafana.example.com".into()]);
    let listed = start(config).await;
    let resp = preflight(&listed, "https://grafana.example.com").await;
    assert_eq!(resp.headers()["access-control-allow-origin"], "https://grafana.example.com");
    let resp = preflight(&listed, "https://evil.example").await;
    assert!(resp.headers().get("access-control-allow-origin").is_none(), "an origin not listed gets no CORS grant");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_model_path_fails_start_up_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = model_serving::start(common::config_for(&dir.path().join("missing")), listener).await.err().unwrap();
    // As main prints it: the message and each cause once.
    let message = format!("{:#}", anyhow::Error::from(err));
    assert!(message.starts_with("MODEL_PATH="), "{message}");
    assert!(message.contains("metadata.json is missing"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_docs_error_table_lists_every_error_code_of_the_openapi_document_with_its_status() {
    let r = start_default().await;
    let doc: Value = r.client.get(format!("{}/openapi.json", r.base)).send().await.unwrap().json().await.unwrap();
    let schema = &doc["components"]["schemas"];
    assert_eq!(schema["ErrorDetail"]["properties"]["code"]["$ref"], "#/components/schemas/ErrorCode");
    let mut codes: Vec<(u16, String)> = schema["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum in the OpenAPI document")
        .iter()
        .map(|code| {
            let parsed: ErrorCode = serde_json::from_value(code.clone()).unwrap();
            (parsed.status().as_u16(), code.as_str().unwrap().to_string())
        })
        .collect();
    codes.sort();

    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/serving.md")).unwrap();
    let table = &text[text.find("| status | code | when |").expect("docs/serving.md has the error table")..];
    let mut documented: Vec<(u16, String)> = table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].parse().unwrap(), cells[2].trim_matches('`').to_string())
        })
        .collect();
    documented.sort();
    assert_eq!(documented, codes, "docs/serving.md's error table and ErrorCode differ");
}

/// A huge but finite cell makes its rows anomalous with a finite score, as JSON, CSV and the
/// engine see it; before, about 1e20 and up scored 0.0 and counted as normal.
#[tokio::test(flavor = "multi_thread")]
async fn a_huge_finite_value_is_anomalous_with_a_finite_score() {
    let r = start_default().await;
    for value in [1e20, 1e30, 1e300] {
        let mut rows: Vec<[f64; 6]> = fixture().test_rows[..20].to_vec();
        rows[10][2] = value;
        let (status, body) = post(&r, "text/csv", csv_body(&rows)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let scores = scores_of(&body);
        assert!(scores.iter().all(|s| s.is_finite()), "{value:e}: {scores:?}");
        let anomalies: Vec<usize> = serde_json::from_value(body["anomalies"].clone()).unwrap();
        assert!(anomalies.contains(&10), "{value:e}: row 10 must be anomalous, got {anomalies:?}");
        let json_rows: Vec<Vec<f64>> = rows.iter().map(|r| r.to_vec()).collect();
        let (status, body) = post(&r, "application/json", json!({ "rows": json_rows }).to_string()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(scores_of(&body), scores, "{value:e}: JSON rows score as the CSV does");
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => refs.push(r.clone()),
                    _ => collect_refs(v, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

/// Each request example of the OpenAPI document, as (content type, body).
fn request_examples(doc: &Value) -> Vec<(String, String)> {
    let content = doc["paths"]["/compute"]["post"]["requestBody"]["content"].as_object().unwrap();
    let mut examples = Vec::new();
    for (content_type, media) in content {
        if let Some(text) = media["example"].as_str() {
            examples.push((content_type.clone(), text.to_string()));
        }
    }
    let schemas = &doc["components"]["schemas"];
    for name in ["RowsBody", "ColumnsBody"] {
        examples.push(("application/json".into(), schemas[name]["example"].to_string()));
    }
    examples
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_declares_both_200_answers_every_content_type_and_examples_the_model_accepts() {
    let r = start_default().await;
    let doc: Value = r.client.get(format!("{}/openapi.json", r.base)).send().await.unwrap().json().await.unwrap();
    let compute = &doc["paths"]["/compute"]["post"];
    let content = compute["requestBody"]["content"].as_object().unwrap();
    let mut types: Vec<&str> = content.keys().map(String::as_str).collect();
    types.sort();
    assert_eq!(types, ["application/json", "text/csv", "text/plain"], "every accepted content type is declared");

    let answer = &compute["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(answer, "#/components/schemas/ComputeAnswer");
    let one_of: Vec<&str> = doc["components"]["schemas"]["ComputeAnswer"]["oneOf"]
        .as_array()
        .expect("the 200 answer is oneOf")
        .iter()
        .map(|s| s["$ref"].as_str().unwrap())
        .collect();
    assert_eq!(one_of, ["#/components/schemas/Report", "#/components/schemas/TaskAccepted"]);
    for status in ["401", "403"] {
        assert!(compute["responses"].get(status).is_some(), "/compute lacks {status}");
    }

    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    for reference in refs {
        let name = reference.strip_prefix("#/components/schemas/").expect("a schema reference");
        assert!(doc["components"]["schemas"].get(name).is_some(), "{reference} points at no schema");
    }

    let examples = request_examples(&doc);
    assert_eq!(examples.len(), 4, "{examples:?}");
    for (content_type, body) in examples {
        let (status, answer) = post(&r, &content_type, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "the {content_type} example {body} is refused: {answer}");
        assert_eq!(answer["rows"], 5, "{answer}");
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

async fn post_encoded(r: &common::Running, encoding: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let resp = r
        .client
        .post(format!("{}/compute", r.base))
        .header("content-type", "text/csv")
        .header("content-encoding", encoding)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_body_scores_as_the_plain_one_and_other_codings_are_415() {
    let mut config = common::config_for(&fixture().model_dir);
    config.max_body_bytes = 1 << 20;
    let r = start(config).await;
    let csv = csv_body(&fixture().test_rows[..200]);
    let (_, plain) = post(&r, "text/csv", csv.clone()).await;
    let (status, zipped) = post_encoded(&r, "gzip", gzip(csv.as_bytes())).await;
    assert_eq!(status, StatusCode::OK, "{zipped}");
    assert_eq!(zipped, plain);

    let (status, body) = post_encoded(&r, "br", csv.clone().into_bytes()).await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding", &["\"br\"", "gzip"]);

    // Under the limit compressed, over it decoded.
    let bomb = gzip(&vec![b'1'; 4 << 20]);
    assert!(bomb.len() < 64 << 10);
    let (status, body) = post_encoded(&r, "gzip", bomb).await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        &["decompresses", "MAX_BODY_BYTES"],
    );

    let (status, body) = post_encoded(&r, "gzip", csv.into_bytes()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "unparsable_body", &["not valid gzip"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_api_key_scoring_needs_the_bearer_token_and_the_other_routes_stay_open() {
    let key = "k3y-0123456789abcdef";
    let config = model_serving::config::Config::from_vars(&HashMap::from([
        ("MODEL_PATH".to_string(), fixture().model_dir.display().to_string()),
        ("API_KEY".to_string(), key.to_string()),
    ]))
    .unwrap();
    assert!(!format!("{config:?}").contains(key), "Debug shows no key");
    let r = start(config).await;
    let csv = csv_body(&fixture().test_rows[..20]);
    let rows: Vec<Vec<f64>> = fixture().test_rows[..20].iter().map(|r| r.to_vec()).collect();
    let compute = |auth: Option<String>, content_type: &str, body: String| {
        let mut request = r.client.post(format!("{}/compute", r.base)).header("content-type", content_type).body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for (auth, content_type, body) in [
        (None, "text/csv", csv.clone()),
        (Some("Bearer wrong-token-0123456789".to_string()), "text/csv", csv.clone()),
        (Some(format!("Basic {key}")), "text/csv", csv.clone()),
        (None, "application/json", json!({ "rows": rows }).to_string()),
    ] {
        let resp = compute(auth.clone(), content_type, body).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{auth:?} {content_type}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(body["error"]["message"].as_str().unwrap().contains("Authorization: Bearer"), "{body}");
        assert!(!body.to_string().contains(key), "the key never appears in an answer");
    }
    for auth in [format!("Bearer {key}"), format!("bearer {key}")] {
        let resp = compute(Some(auth), "text/csv", csv.clone()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    for path in ["/health/live", "/health/ready", "/metrics", "/status", "/model", "/openapi.json", "/docs/"] {
        let status = r.client.get(format!("{}{path}", r.base)).send().await.unwrap().status();
        assert_eq!(status, StatusCode::OK, "{path} stays open");
    }
    let short = model_serving::config::Config::from_vars(&HashMap::from([("API_KEY".into(), "short".into())]));
    let message = short.unwrap_err().to_string();
    assert!(message.contains("API_KEY") && message.contains("16") && !message.contains("short"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_isolation_forest_model_is_served_through_the_same_routes_and_says_its_kind() {
    use model_core::{Frame, Model};
    use model_creation::params::Params;
    use model_creation::simulate::{SimulateOptions, generate};
    use model_creation::train::DataInfo;
    use model_creation::train::forest::train_forest;

    let ds = generate(&SimulateOptions { seed: 5, train_rows: 800, test_rows: 200 });
    let frame = Frame {
        columns: FEATURES.iter().map(|s| s.to_string()).collect(),
        n_rows: ds.train.len(),
        values: ds.train.iter().flatten().copied().collect(),
    };
    let info = DataInfo { md5: "0".repeat(32), ignored_columns: vec!["timestamp".into()] };
    let mut model = train_forest(&frame, info, &Params::default(), "train.csv").unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(&dir.path().join("model")).unwrap();
    let r = common::start(common::config_for(&dir.path().join("model"))).await;

    let csv = csv_body(&ds.test);
    let (_, expected) = Model::load(&dir.path().join("model")).unwrap().score_csv(csv.as_bytes(), "expected").unwrap();
    let (status, body) = post(&r, "text/csv", csv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(scores_of(&body), expected.scores);
    let anomalies: Vec<usize> = serde_json::from_value(body["anomalies"].clone()).unwrap();
    assert_eq!(anomalies, expected.anomalies);

    let resp = r.client.get(format!("{}/model", r.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let info: Value = resp.json().await.unwrap();
    assert_eq!(info["kind"], "isolation_forest", "{info}");
    assert_eq!(info["explains"], false, "{info}");
    // No explanations by default; asking for them is refused, saying why.
    assert!(body.get("explanations").is_none(), "{body}");
    let (status, body) = post_to(&r, "/compute?explain=all", "text/csv", csv_body(&ds.test)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_parameter", &["isolation_forest", "explain"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn anomalous_rows_are_explained_by_feature_and_the_shares_sum_to_the_score() {
    let r = start_default().await;
    let csv = csv_body(&fixture().test_rows);
    let (status, body) = post(&r, "text/csv", csv.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let scores = scores_of(&body);
    let anomalies: Vec<usize> = serde_json::from_value(body["anomalies"].clone()).unwrap();
    assert!(!anomalies.is_empty(), "the fixture's test rows hold anomalies");
    let explanations = body["explanations"].as_array().unwrap();
    let rows: Vec<usize> = explanations.iter().map(|e| e["row"].as_u64().unwrap() as usize).collect();
    assert_eq!(rows, anomalies, "one explanation per anomalous row, in row order");
    let model = load_model();
    for e in explanations {
        let features = e["features"].as_array().unwrap();
        assert_eq!(features.len(), 3, "{e}");
        for f in features {
            assert!(model.meta.features.contains(&f["name"].as_str().unwrap().to_string()), "{f}");
            assert!(f["observed"].is_f64() && f["reconstructed"].is_f64(), "{f}");
        }
        let shares: Vec<f64> = features.iter().map(|f| f["share"].as_f64().unwrap()).collect();
        assert!(shares.windows(2).all(|p| p[0] >= p[1]), "largest share first: {e}");
    }
    // All features of every row: the shares sum to the row's score.
    let (status, body) = post_to(&r, "/compute?explain=all&explain_top=6", "text/csv", csv.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(scores_of(&body), scores, "explanations never change the scores");
    let all = body["explanations"].as_array().unwrap();
    assert_eq!(all.len(), scores.len());
    for (e, score) in all.iter().zip(&scores) {
        let sum: f64 = e["features"].as_array().unwrap().iter().map(|f| f["share"].as_f64().unwrap()).sum();
        let score = f64::from(*score);
        assert!((sum - score).abs() <= 1e-4 * score.max(1e-6), "row {}: shares {sum} != score {score}", e["row"]);
    }
    // Fewer features, none at all, and values the route does not take.
    let (_, body) = post_to(&r, "/compute?explain_top=1", "text/csv", csv.clone()).await;
    assert!(body["explanations"].as_array().unwrap().iter().all(|e| e["features"].as_array().unwrap().len() == 1));
    let (status, body) = post_to(&r, "/compute?explain=none", "text/csv", csv.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("explanations").is_none(), "{body}");
    let (status, body) = post_to(&r, "/compute?explain=some", "text/csv", csv.clone()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_parameter", &["explain=\"some\"", "all"]);
    let (status, body) = post_to(&r, "/compute?explain_top=0", "text/csv", csv).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_parameter", &["explain_top", "at least 1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_ten_thousand_rows_are_explained_the_highest_scoring_ones() {
    let r = start_default().await;
    let rows: Vec<[f64; 6]> = fixture().test_rows.iter().cycle().take(12_000).copied().collect();
    let (status, body) = post_to(&r, "/compute?explain=all&explain_top=1", "text/csv", csv_body(&rows)).await;
    assert_eq!(status, StatusCode::OK, "{}", body["error"]);
    assert_eq!(body["explanations_capped"], true);
    let scores = scores_of(&body);
    let explained: Vec<usize> =
        body["explanations"].as_array().unwrap().iter().map(|e| e["row"].as_u64().unwrap() as usize).collect();
    assert_eq!(explained.len(), model_serving::inference::EXPLAIN_MAX_ROWS);
    assert!(explained.windows(2).all(|p| p[0] < p[1]), "in row order");
    let chosen: std::collections::HashSet<usize> = explained.iter().copied().collect();
    let lowest_explained = explained.iter().map(|r| scores[*r]).fold(f32::INFINITY, f32::min);
    let highest_left =
        (0..scores.len()).filter(|r| !chosen.contains(r)).map(|r| scores[r]).fold(f32::NEG_INFINITY, f32::max);
    assert!(lowest_explained >= highest_left, "{lowest_explained} < {highest_left}");
    // Below the cap the field is absent.
    let (_, body) = post_to(&r, "/compute", "text/csv", csv_body(&rows[..500])).await;
    assert!(body.get("explanations_capped").is_none(), "{}", body["explanations_capped"]);
}
