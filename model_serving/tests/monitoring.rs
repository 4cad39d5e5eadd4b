//! The monitoring files under kubernetes/monitoring/ checked against the real thing: the
//! service, with every feature exercised (scoring with explanations and drift, errors, an engine
//! task, a registry alias move, a shadow model), is scraped by a real Prometheus that also loads the alert rules;
//! every dashboard query returns data there, every metric a rule names exists, and every rule
//! evaluates. promtool checks and unit-tests the rules file and the PrometheusRule's groups; the
//! PrometheusRule is generated from the rules file (`UPDATE_MONITORING=1` rewrites it); the
//! dashboard is checked structurally.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use model_registry::{PublishInfo, Registry};
use object_storage::Store;
use serde_json::{Value, json};

const JOB: &str = "ae-anomaly-detection";

fn monitoring() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kubernetes/monitoring")
}

fn yaml_file(name: &str) -> Value {
    let text = std::fs::read_to_string(monitoring().join(name)).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn dashboard() -> Value {
    serde_json::from_slice(&std::fs::read(monitoring().join("dashboard.json")).unwrap()).unwrap()
}

/// Every query of the dashboard, with Grafana's variables as a test run sets them.
fn dashboard_queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dashboard()["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap().replace("$__rate_interval", "1m").replace("$job", JOB);
            out.push((panel["title"].as_str().unwrap().to_string(), expr));
        }
    }
    out
}

/// Every alert rule: (name, expression).
fn rules() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for group in yaml_file("alerts.yaml")["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            out.push((rule["alert"].as_str().unwrap().to_string(), rule["expr"].as_str().unwrap().to_string()));
        }
    }
    out
}

/// The PrometheusRule the Operator takes: the rules file's groups, as they are.
fn prometheus_rule() -> String {
    let rule = json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "ae-anomaly-detection", "labels": {"app.kubernetes.io/name": "ae-anomaly-detection"}},
        "spec": {"groups": yaml_file("alerts.yaml")["groups"]},
    });
    format!(
        "# Generated from alerts.yaml by model_serving/tests/monitoring.rs (UPDATE_MONITORING=1 cargo test -p \
         model_serving --test monitoring); do not edit.\n{}",
        serde_norway::to_string(&rule).unwrap()
    )
}

#[test]
fn the_prometheus_rule_is_generated_from_the_rules_file() {
    let path = monitoring().join("prometheusrule.yaml");
    let want = prometheus_rule();
    if std::env::var_os("UPDATE_MONITORING").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is not generated from alerts.yaml: run UPDATE_MONITORING=1 cargo test -p model_serving --test monitoring",
        path.display()
    );
}

#[test]
fn promtool_checks_and_unit_tests_the_rules_file_and_the_prometheus_rule_groups() {
    let dir = monitoring();
    let rules = dir.join("alerts.yaml");
    let tests = dir.join("alerts.test.yaml");
    let Some(check) = common::run_tool("promtool", &["check", "rules", rules.to_str().unwrap()], None) else { return };
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    let test = common::run_tool("promtool", &["test", "rules", tests.to_str().unwrap()], None).unwrap();
    assert!(
        test.status.success(),
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    // The PrometheusRule's groups, written out as a rules file of their own, pass the same.
    let tmp = tempfile::tempdir().unwrap();
    let groups: Value = serde_norway::from_str::<Value>(
        &std::fs::read_to_string(dir.join("prometheusrule.yaml")).unwrap(),
    )
    .unwrap()["spec"]
        .clone();
    std::fs::write(tmp.path().join("alerts.yaml"), serde_norway::to_string(&groups).unwrap()).unwrap();
    std::fs::copy(&tests, tmp.path().join("alerts.test.yaml")).unwrap();
    let path = tmp.path().join("alerts.test.yaml");
    let test = common::run_tool("promtool", &["test", "rules", path.to_str().unwrap()], None).unwrap();
    assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stdout));
    // One unit test per alert.
    let tested: BTreeSet<String> = serde_norway::from_str::<Value>(&std::fs::read_to_string(&tests).unwrap()).unwrap()
        ["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| {
            t["alert_rule_test"].as_array().unwrap().iter().map(|a| a["alertname"].as_str().unwrap().to_string())
        })
        .collect();
    let alerts: BTreeSet<String> = self::rules().into_iter().map(|(name, _)| name).collect();
    assert_eq!(tested, alerts, "every alert has a unit test");
}

#[test]
fn the_dashboard_has_unique_panel_ids_a_query_per_target_and_a_datasource_variable() {
    let d = dashboard();
    let panels = d["panels"].as_array().unwrap();
    let ids: BTreeSet<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    for p in panels {
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {} has no query", p["title"]);
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                "panel {}: a target without a query",
                p["title"]
            );
            assert_eq!(t["datasource"]["uid"], "${datasource}", "panel {}", p["title"]);
        }
    }
    let variables = d["templating"]["list"].as_array().unwrap();
    assert!(
        variables.iter().any(|v| v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus")
    );
    // The ConfigMap carries the label Grafana's dashboard sidecar watches.
    let kustomization = yaml_file("kustomization.yaml");
    let generator = &kustomization["configMapGenerator"][0];
    assert_eq!(generator["options"]["labels"]["grafana_dashboard"], "1");
    assert!(generator["files"][0].as_str().unwrap().ends_with("=dashboard.json"));
}

/// The metric names an expression selects: `up` and the service's `model_serving_*`.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    expr.split(|c: char| !word(c))
        .filter(|w| w.starts_with("model_serving_") || *w == "up")
        .map(str::to_string)
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn publish(registry: &Registry, model: &Path) -> String {
    let info = PublishInfo {
        published_by: "monitoring test".into(),
        git_commit: None,
        metrics: None,
        metrics_data: None,
        dvc_lock_md5: None,
    };
    registry.publish("ae", model, info).await.unwrap().version
}

/// Instant query; panics on anything but a successful answer.
async fn query(client: &reqwest::Client, prometheus: &str, expr: &str) -> Vec<Value> {
    let answer: Value = client
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "success", "{expr}: {answer}");
    answer["data"]["result"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_dashboard_query_and_rule_returns_data_from_a_real_prometheus_scraping_the_service() {
    if std::process::Command::new("prometheus").arg("--version").output().is_err() {
        assert!(!common::in_ci(), "prometheus is not installed; CI must install it (.ci/install-serving-tools.sh)");
        eprintln!("note: prometheus is not installed; skipping this check locally");
        return;
    }
    // The service follows a registry alias, so the reload and alias metrics exist too.
    let root = tempfile::tempdir().unwrap();
    let registry = Registry::from_store(Store::local(root.path()));
    let v1 = publish(&registry, &common::fixture().model_dir).await;
    registry.set_alias("ae", "champion", &v1, "test").await.unwrap();
    let r = common::start_with(&[
        ("MODEL_REGISTRY", root.path().to_str().unwrap()),
        ("MODEL_NAME", "ae"),
        ("MODEL_REFRESH_INTERVAL", "0"),
        // The champion shadows itself: the shadow metrics exist.
        ("SHADOW_MODEL_URI", "@champion"),
        ("SHADOW_QUEUE", "64"),
    ])
    .await;
    let base = r.base.clone();
    let client = reqwest::Client::new();
    let rows = &common::fixture().test_rows;
    let post = |body: String, content_type: &'static str| {
        client.post(format!("{base}/compute")).header("content-type", content_type).body(body).send()
    };
    for _ in 0..3 {
        assert_eq!(post(common::csv_body(rows), "text/csv").await.unwrap().status(), 200);
    }
    assert_eq!(post("temperature\n1\n".into(), "text/csv").await.unwrap().status(), 422);
    // A core engine task message as the engine sends it, refused here (no ENGINE_URLS).
    let task = include_str!("fixtures/observed-wire.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["dir"] == "engine->service" && r["method"] == "POST" && r["status"] == 200)
        .unwrap()["req_body"]
        .clone();
    assert_eq!(post(task.to_string(), "application/json").await.unwrap().status(), 403);
    // The alias moves: the service checks at once and swaps the new version in.
    let mut second = common::load_model();
    second.meta.version = "second".into();
    let dir = tempfile::tempdir().unwrap();
    second.save(&dir.path().join("m")).unwrap();
    let v2 = publish(&registry, &dir.path().join("m")).await;
    registry.set_alias("ae", "champion", &v2, "test").await.unwrap();
    r.service.check_model_now();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let model: Value = client.get(format!("{base}/model")).send().await.unwrap().json().await.unwrap();
        if model["version"] == v2.as_str() {
            break;
        }
        assert!(Instant::now() < deadline, "the alias move was not picked up: {model}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(post(common::csv_body(rows), "text/csv").await.unwrap().status(), 200);

    // A real Prometheus scraping it every second, with the alert rules loaded.
    let tmp = tempfile::tempdir().unwrap();
    let target = base.trim_start_matches("http://");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: {JOB}\n    \
         static_configs:\n      - targets: ['{target}']\n",
        monitoring().join("alerts.yaml").display()
    );
    std::fs::write(tmp.path().join("prometheus.yml"), config).unwrap();
    let port = free_port();
    let mut prometheus = tokio::process::Command::new("prometheus")
        .arg(format!("--config.file={}", tmp.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", tmp.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let prom = format!("http://127.0.0.1:{port}");
    // Up, then scraped long enough for rates over a minute (two samples or more) to exist, with
    // traffic between scrapes so the rates are not zero.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client.get(format!("{prom}/-/ready")).send().await.is_ok_and(|a| a.status().is_success());
        if ready && !query(&client, &prom, &format!("up{{job=\"{JOB}\"}} == 1")).await.is_empty() {
            break;
        }
        assert!(prometheus.try_wait().unwrap().is_none(), "prometheus exited");
        assert!(Instant::now() < deadline, "prometheus did not scrape the service within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in 0..4 {
        assert_eq!(post(common::csv_body(rows), "text/csv").await.unwrap().status(), 200);
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }

    for (panel, expr) in dashboard_queries() {
        let result = query(&client, &prom, &expr).await;
        assert!(!result.is_empty(), "dashboard panel {panel:?}: {expr} returns no data");
        for name in metric_names(&expr) {
            let series = query(&client, &prom, &format!("count({name}{{job=\"{JOB}\"}})")).await;
            assert!(!series.is_empty(), "dashboard panel {panel:?}: the service exports no {name}");
        }
    }
    for (alert, expr) in rules() {
        query(&client, &prom, &expr).await;
        for name in metric_names(&expr) {
            let series = query(&client, &prom, &format!("count({name}{{job=\"{JOB}\"}})")).await;
            assert!(!series.is_empty(), "alert {alert}: the service exports no {name}");
        }
    }
    // Prometheus loaded and evaluated every rule without an error.
    let answer: Value = client.get(format!("{prom}/api/v1/rules")).send().await.unwrap().json().await.unwrap();
    let loaded: Vec<&Value> =
        answer["data"]["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
    assert_eq!(loaded.len(), rules().len(), "{answer}");
    for rule in loaded {
        assert_eq!(rule["health"], "ok", "{rule}");
    }
}
