//! Input drift as an operator reads it: `/drift` and the drift metrics after real requests,
//! stable for training-like input, shifted for a moved sensor, bounded by DRIFT_WINDOW, and a
//! plain "not tracked" for a model trained before drift tracking; `/scores/recent` holds the
//! same window's scores by request, as `/compute` answered them.

mod common;

use common::{csv_body, start, start_with};
use model_creation::simulate::{SimulateOptions, generate};
use serde_json::Value;

async fn get(r: &common::Running, path: &str) -> String {
    let resp = r.client.get(format!("{}{path}", r.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.text().await.unwrap()
}

async fn drift(r: &common::Running) -> Value {
    serde_json::from_str(&get(r, "/drift").await).unwrap()
}

async fn score(r: &common::Running, rows: &[[f64; 6]]) -> Value {
    let resp = r.client.post(format!("{}/compute", r.base)).header("content-type", "text/csv").body(csv_body(rows));
    let resp = resp.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn feature<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["features"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn training_like_input_is_stable_a_moved_sensor_is_shifted_and_the_window_is_bounded() {
    let r = start_with(&[("DRIFT_WINDOW", "1000")]).await;
    let before = drift(&r).await;
    assert_eq!((before["tracking"].as_bool(), before["rows"].as_u64()), (Some(true), Some(0)), "{before}");

    // Normal rows of another simulated plant: the same distribution as the training data.
    let normal = generate(&SimulateOptions { seed: 12, train_rows: 1500, test_rows: 10 }).train;
    score(&r, &normal).await;
    let report = drift(&r).await;
    assert_eq!(report["rows"], 1000, "at most DRIFT_WINDOW rows are kept: {report}");
    for f in report["features"].as_array().unwrap() {
        assert!(f["psi"].as_f64().unwrap() < 0.1, "training-like input drifts: {f}");
        assert_eq!(f["reading"], "stable", "{f}");
        assert_eq!(f["reference"].as_array().unwrap().len(), 10);
        let current: f64 = f["current"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum();
        assert!((current - 1.0).abs() < 1e-9, "{f}");
    }
    let normal_rate = report["anomaly_rate"].as_f64().unwrap();

    // The temperature sensor reads 8 degrees high from now on.
    let moved: Vec<[f64; 6]> = normal[..1000].iter().map(|r| [r[0] + 8.0, r[1], r[2], r[3], r[4], r[5]]).collect();
    score(&r, &moved).await;
    let report = drift(&r).await;
    let temperature = feature(&report, "temperature");
    assert!(temperature["psi"].as_f64().unwrap() > 0.25, "{temperature}");
    assert_eq!(temperature["reading"], "shifted");
    assert!(temperature["out_of_range"].as_f64().unwrap() > 0.1, "{temperature}");
    assert!(feature(&report, "pressure")["psi"].as_f64().unwrap() < 0.1, "{report}");
    assert!(report["anomaly_rate"].as_f64().unwrap() > normal_rate, "{report}");

    // The same figures in the metrics.
    let metrics = get(&r, "/metrics").await;
    let line =
        metrics.lines().find(|l| l.starts_with("model_serving_drift_psi{feature=\"temperature\",group=\"\"}")).unwrap();
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((value - temperature["psi"].as_f64().unwrap()).abs() < 1e-9, "{line}");
    assert!(metrics.contains("model_serving_drift_window_rows 1000"), "{metrics}");
    assert!(metrics.contains("model_serving_drift_out_of_range_ratio{feature=\"pressure\",group=\"\"}"));
    assert!(metrics.contains("model_serving_window_anomaly_rate "));

    // A single model has no groups to ask for.
    let resp = r.client.get(format!("{}/drift?group=m1", r.base)).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("not a model set"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_trained_before_drift_tracking_reports_no_drift() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../model_core/tests/fixtures/scoring/multivariate/model");
    let r = start(common::config_for(&fixture)).await;
    let input = std::fs::read(fixture.join("../input.csv")).unwrap();
    let resp = r.client.post(format!("{}/compute", r.base)).header("content-type", "text/csv").body(input);
    assert_eq!(resp.send().await.unwrap().status(), 200);
    let report = drift(&r).await;
    assert_eq!(report["tracking"], false, "{report}");
    assert!(report["reason"].as_str().unwrap().contains("retrain"), "{report}");
    assert!(report["features"].as_array().unwrap().is_empty());
    assert!(!get(&r, "/metrics").await.contains("model_serving_drift_psi{"));
    // Its scores are still kept for the live page.
    let recent: Value = serde_json::from_str(&get(&r, "/scores/recent").await).unwrap();
    assert!(recent["rows"].as_u64().unwrap() > 0, "{recent}");
}

#[tokio::test(flavor = "multi_thread")]
async fn recent_scores_are_the_windows_rows_by_request_as_compute_answered_them() {
    let r = start_with(&[("DRIFT_WINDOW", "50")]).await;
    let empty: Value = serde_json::from_str(&get(&r, "/scores/recent").await).unwrap();
    assert_eq!((empty["rows"].as_u64(), empty["window"].as_u64()), (Some(0), Some(50)), "{empty}");
    assert!(empty["batches"].as_array().unwrap().is_empty());

    let rows = &common::fixture().test_rows;
    let first = score(&r, &rows[..40]).await;
    let second = score(&r, &rows[40..70]).await;
    let recent: Value = serde_json::from_str(&get(&r, "/scores/recent").await).unwrap();
    assert_eq!(recent["rows"], 50, "{recent}");
    assert_eq!(recent["threshold"], first["threshold"]);
    assert_eq!(recent["model_version"], first["model_version"]);
    let batches = recent["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 2, "{recent}");
    // The first request lost its oldest 20 rows to the second one's 30.
    assert_eq!(batches[0]["scores"].as_array().unwrap()[..], first["scores"].as_array().unwrap()[20..]);
    assert_eq!(batches[1]["scores"], second["scores"]);
    let (t0, t1) = (batches[0]["at"].as_f64().unwrap(), batches[1]["at"].as_f64().unwrap());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(t0 <= t1 && t1 <= now && now - t0 < 60.0, "scoring times: {t0} {t1} (now {now})");
    // The drift histograms lost the same 20 rows.
    let report = drift(&r).await;
    assert_eq!(report["rows"], 50);
    for f in report["features"].as_array().unwrap() {
        let current: f64 = f["current"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum();
        assert!((current - 1.0).abs() < 1e-9, "{f}");
    }

    // A request larger than the window keeps its last rows only.
    let third = score(&r, &rows[..80]).await;
    let recent: Value = serde_json::from_str(&get(&r, "/scores/recent").await).unwrap();
    let batches = recent["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 1, "{recent}");
    assert_eq!(batches[0]["scores"].as_array().unwrap()[..], third["scores"].as_array().unwrap()[30..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_filled_by_uneven_requests_reads_as_its_rows_sent_at_once() {
    let r = start_with(&[("DRIFT_WINDOW", "250")]).await;
    // Normal rows with a moved stretch, so both bins and out-of-range values leave the window.
    let mut rows = generate(&SimulateOptions { seed: 5, train_rows: 2700, test_rows: 10 }).train;
    let sizes: Vec<usize> = (0..40).map(|i| 5 + (i * 37) % 90).chain([333, 41, 99, 64, 77]).collect();
    let total: usize = sizes.iter().sum();
    for row in &mut rows[total - 200..total - 120] {
        row[0] += 8.0;
        row[3] -= 5.0;
    }
    // Requests of uneven sizes: the window drops parts of requests, and its store wraps around,
    // so rows leave it from both of the store's halves.
    let mut at = 0;
    for n in sizes {
        score(&r, &rows[at..at + n]).await;
        at += n;
    }
    let piecewise = drift(&r).await;
    score(&r, &rows[at - 250..at]).await;
    let at_once = drift(&r).await;
    assert_eq!(piecewise["rows"], 250);
    assert_eq!(piecewise["features"], at_once["features"], "the window counted {piecewise} for {at_once}");
    assert!(feature(&at_once, "temperature")["out_of_range"].as_f64().unwrap() > 0.0, "{at_once}");
}
