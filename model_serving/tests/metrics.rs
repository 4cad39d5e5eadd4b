//! `/metrics` as Prometheus reads it: valid exposition format (promtool) and counters that move
//! with the requests served.

mod common;

use common::{csv_body, fixture, start_default};

fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_pass_promtool_and_count_requests_rows_and_anomalies() {
    let r = start_default().await;
    let metrics = || async { r.client.get(format!("{}/metrics", r.base)).send().await.unwrap().text().await.unwrap() };
    let before = metrics().await;
    assert!(before.contains("model_serving_model_info{"), "{before}");
    assert_eq!(sample(&before, "model_serving_rows_scored_total"), 0.0);

    let rows = &fixture().test_rows;
    let resp = r
        .client
        .post(format!("{}/compute", r.base))
        .header("content-type", "text/csv")
        .body(csv_body(rows))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let resp = r.client.post(format!("{}/compute", r.base)).header("content-type", "text/csv").body("x\n").send().await;
    assert_eq!(resp.unwrap().status(), 422);

    let after = metrics().await;
    assert_eq!(sample(&after, "model_serving_rows_scored_total"), rows.len() as f64);
    assert_eq!(sample(&after, "model_serving_anomalies_flagged_total"), body["anomaly_count"].as_f64().unwrap());
    let ok = r#"model_serving_http_requests_total{method="POST",route="/compute",status="200"}"#;
    let bad = r#"model_serving_http_requests_total{method="POST",route="/compute",status="422"}"#;
    assert_eq!(sample(&after, ok), 1.0, "{after}");
    assert_eq!(sample(&after, bad), 1.0, "{after}");
    assert_eq!(sample(&after, r#"model_serving_http_request_duration_seconds_count{route="/compute"}"#), 2.0);
    // The scrape itself is in flight while it renders.
    assert_eq!(sample(&after, "model_serving_http_requests_in_flight"), 1.0);

    if let Some(out) = common::run_tool("promtool", &["check", "metrics"], Some(after.as_bytes())) {
        assert!(
            out.status.success(),
            "promtool check metrics failed:\n{}{}\n{after}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_wait_and_scoring_time_are_histograms_beside_total_latency() {
    let r = start_default().await;
    let metrics = || async { r.client.get(format!("{}/metrics", r.base)).send().await.unwrap().text().await.unwrap() };
    let before = metrics().await;
    for name in ["model_serving_queue_wait_seconds", "model_serving_scoring_duration_seconds"] {
        assert!(before.contains(&format!("# TYPE {name} histogram")), "{name} missing:\n{before}");
        assert_eq!(sample(&before, &format!("{name}_count")), 0.0);
    }

    // A small body is scored inline (no queue); a large one waits for a CPU slot first.
    let small = csv_body(&fixture().test_rows[..50]);
    let large: Vec<[f64; 6]> = fixture().test_rows.iter().cycle().take(2_000).copied().collect();
    let large = csv_body(&large);
    assert!(large.len() > model_serving::inference::INLINE_MAX_BYTES);
    for body in [small, large] {
        let resp = r.client.post(format!("{}/compute", r.base)).header("content-type", "text/csv").body(body).send();
        assert_eq!(resp.await.unwrap().status(), 200);
    }

    let after = metrics().await;
    assert_eq!(sample(&after, "model_serving_scoring_duration_seconds_count"), 2.0, "{after}");
    assert_eq!(sample(&after, "model_serving_queue_wait_seconds_count"), 1.0, "{after}");
    assert!(sample(&after, "model_serving_scoring_duration_seconds_sum") > 0.0, "{after}");
    let total = r#"model_serving_http_request_duration_seconds_count{route="/compute"}"#;
    assert_eq!(sample(&after, total), 2.0, "{after}");
    let inf = r#"model_serving_scoring_duration_seconds_bucket{le="+Inf"}"#;
    assert_eq!(sample(&after, inf), 2.0, "{after}");
}
