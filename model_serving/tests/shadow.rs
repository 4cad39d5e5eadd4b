//! Shadow scoring of a challenger, as an operator runs it: callers get exactly the served
//! model's answer, the shadow metrics compare the two models on the same rows, a full shadow
//! queue drops and counts instead of delaying anyone, and a shadow alias needs a registry.

mod common;

use std::time::{Duration, Instant};

use model_registry::{PublishInfo, Registry};
use object_storage::Store;
use serde_json::Value;

async fn publish(registry: &Registry, model: &std::path::Path) -> String {
    let info = PublishInfo {
        published_by: "shadow test".into(),
        git_commit: None,
        metrics: None,
        metrics_data: None,
        dvc_lock_md5: None,
    };
    registry.publish("ae", model, info).await.unwrap().version
}

/// A registry whose champion is the fixture model and whose challenger is the same network with
/// half its threshold (it flags more rows).
async fn registry() -> (tempfile::TempDir, String) {
    let root = tempfile::tempdir().unwrap();
    let registry = Registry::from_store(Store::local(root.path()));
    let champion = publish(&registry, &common::fixture().model_dir).await;
    registry.set_alias("ae", "champion", &champion, "test").await.unwrap();
    let mut challenger = common::load_model();
    challenger.meta.threshold.value *= 0.5;
    challenger.meta.version = "challenger".into();
    let dir = tempfile::tempdir().unwrap();
    challenger.save(&dir.path().join("m")).unwrap();
    let version = publish(&registry, &dir.path().join("m")).await;
    registry.set_alias("ae", "challenger", &version, "test").await.unwrap();
    (root, version)
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

async fn metrics(r: &common::Running) -> String {
    r.client.get(format!("{}/metrics", r.base)).send().await.unwrap().text().await.unwrap()
}

async fn compute(r: &common::Running, csv: &str) -> Value {
    let resp = r.client.post(format!("{}/compute", r.base)).header("content-type", "text/csv").body(csv.to_string());
    let resp = resp.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn callers_get_the_served_answer_and_the_metrics_compare_the_challenger_on_the_same_rows() {
    let (root, challenger) = registry().await;
    let root_text = root.path().to_str().unwrap();
    let base = [("MODEL_REGISTRY", root_text), ("MODEL_NAME", "ae"), ("MODEL_REFRESH_INTERVAL", "0")];
    let with_shadow =
        common::start_with(&[base.as_slice(), &[("SHADOW_MODEL_URI", "@challenger"), ("SHADOW_QUEUE", "64")]].concat())
            .await;
    let without = common::start_with(&base).await;

    let rows = &common::fixture().test_rows;
    let csv = common::csv_body(rows);
    for _ in 0..5 {
        let (a, b) = (compute(&with_shadow, &csv).await, compute(&without, &csv).await);
        assert_eq!(a, b, "a shadow model never changes the caller's answer");
    }
    let served_anomalies = compute(&without, &csv).await["anomaly_count"].as_f64().unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = metrics(&with_shadow).await;
        if metric(&text, "model_serving_shadow_jobs_total{outcome=\"scored\"}") >= 5.0 {
            break text;
        }
        assert!(Instant::now() < deadline, "the shadow model did not score the inputs: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let n = rows.len() as f64;
    assert_eq!(metric(&text, "model_serving_shadow_rows_scored_total"), 5.0 * n);
    assert_eq!(metric(&text, "model_serving_shadow_jobs_total{outcome=\"dropped\"}"), 0.0);
    // The challenger flags more rows: every row the champion flags, and some it does not.
    let both = metric(&text, "model_serving_shadow_flags_total{served=\"anomalous\",shadow=\"anomalous\"}");
    let shadow_only = metric(&text, "model_serving_shadow_flags_total{served=\"normal\",shadow=\"anomalous\"}");
    let served_only = metric(&text, "model_serving_shadow_flags_total{served=\"anomalous\",shadow=\"normal\"}");
    let neither = metric(&text, "model_serving_shadow_flags_total{served=\"normal\",shadow=\"normal\"}");
    assert_eq!(both + shadow_only + served_only + neither, 5.0 * n, "{text}");
    assert_eq!((both, served_only), (5.0 * served_anomalies, 0.0), "{text}");
    assert!(shadow_only > 0.0, "{text}");
    assert_eq!(metric(&text, "model_serving_shadow_anomalies_flagged_total"), both + shadow_only);
    // The same network: the scores correlate perfectly.
    assert!(metric(&text, "model_serving_shadow_score_correlation") > 0.999, "{text}");
    assert!(text.contains(&format!("model_serving_shadow_model_info{{version=\"{challenger}\"}} 1")), "{text}");
    // The served model's own metrics name the champion only.
    let info: Vec<&str> = text.lines().filter(|l| l.starts_with("model_serving_model_info{")).collect();
    assert_eq!(info.len(), 1, "{text}");
    assert!(!info[0].contains(&challenger), "{}", info[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_shadow_queue_drops_and_counts_the_input_and_the_caller_is_answered() {
    let (root, _) = registry().await;
    let r = common::start_with(&[
        ("MODEL_REGISTRY", root.path().to_str().unwrap()),
        ("MODEL_NAME", "ae"),
        ("SHADOW_MODEL_URI", "ae@challenger"),
        ("SHADOW_QUEUE", "0"),
    ])
    .await;
    let csv = common::csv_body(&common::fixture().test_rows);
    for _ in 0..3 {
        compute(&r, &csv).await;
    }
    let text = metrics(&r).await;
    assert_eq!(metric(&text, "model_serving_shadow_jobs_total{outcome=\"dropped\"}"), 3.0, "{text}");
    assert_eq!(metric(&text, "model_serving_shadow_jobs_total{outcome=\"scored\"}"), 0.0, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shadow_alias_without_a_registry_stops_the_start_with_the_setting_to_change() {
    let mut config = common::config_for(&common::fixture().model_dir);
    config.shadow_model = Some(model_serving::config::ShadowModel { name: None, alias: "challenger".into() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = model_serving::start(config, listener).await.err().unwrap().to_string();
    assert!(err.contains("SHADOW_MODEL_URI") && err.contains("MODEL_REGISTRY"), "{err}");
}
