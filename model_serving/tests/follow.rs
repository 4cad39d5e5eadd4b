//! Serving follows a registry alias, on the real binary: under continuous load the alias moves
//! and the responses switch version with no failed request; a corrupt version is refused while
//! the old one keeps answering; SIGHUP checks at once; a service started before any champion
//! exists is unready (or serves MODEL_PATH) until the first promotion. Locally and on S3.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use model_registry::{PublishInfo, Registry};
use object_storage::Store;

const NAME: &str = "ae";

struct Binary {
    child: tokio::process::Child,
    base: String,
    client: reqwest::Client,
}

impl Binary {
    /// Starts model-serving with `vars` and waits until it answers HTTP (not necessarily ready).
    async fn start(vars: &[(&str, String)]) -> Binary {
        let mut all = vec![("MODEL_NAME", NAME.to_string())];
        all.extend(vars.iter().cloned());
        let (child, base) = common::spawn_binary(&all).await;
        Binary { child, base, client: reqwest::Client::new() }
    }

    async fn ready(&self) -> u16 {
        self.client.get(format!("{}/health/ready", self.base)).send().await.unwrap().status().as_u16()
    }

    async fn model(&self) -> serde_json::Value {
        self.client.get(format!("{}/model", self.base)).send().await.unwrap().json().await.unwrap()
    }

    /// Scores a small CSV: (status, model_version).
    async fn score(&self, body: &str) -> (u16, Option<String>) {
        let sent = self
            .client
            .post(format!("{}/compute", self.base))
            .header("Content-Type", "text/csv")
            .body(body.to_string())
            .send()
            .await;
        let Ok(response) = sent else { return (0, None) };
        let status = response.status().as_u16();
        let json: serde_json::Value = response.json().await.unwrap_or_default();
        (status, json["model_version"].as_str().map(str::to_string))
    }

    /// Waits until a response names `version`; returns how long that took.
    async fn wait_for_version(&self, version: &str, limit: Duration) -> Duration {
        let started = Instant::now();
        let body = small_csv();
        loop {
            if self.score(&body).await.1.as_deref() == Some(version) {
                return started.elapsed();
            }
            assert!(started.elapsed() < limit, "no response from {version} within {limit:?}: {}", self.model().await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn metrics(&self) -> String {
        self.client.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap()
    }
}

fn small_csv() -> String {
    common::csv_body(&common::fixture().test_rows[..40])
}

/// The fixture model, and a second one that differs from it (another threshold and version).
fn two_models() -> (std::path::PathBuf, std::path::PathBuf) {
    let first = common::fixture().model_dir.clone();
    let mut second = common::load_model();
    second.meta.version = "second".into();
    let dir = tempfile::tempdir().unwrap().keep().join("second");
    second.save(&dir).unwrap();
    (first, dir)
}

async fn publish(registry: &Registry, model: &Path) -> String {
    let info = PublishInfo {
        published_by: "follow test".into(),
        git_commit: None,
        metrics: None,
        metrics_data: None,
        dvc_lock_md5: None,
    };
    registry.publish(NAME, model, info).await.unwrap().version
}

/// A published version whose weights no longer match its card's checksum.
async fn publish_corrupt(registry: &Registry, root: &Path, model: &Path) -> String {
    let version = publish(registry, model).await;
    let weights = root.join(NAME).join("versions").join(&version).join("weights.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&weights, bytes).unwrap();
    version
}

/// (status, model_version) of every answer one client got.
type Answers = Vec<(u16, Option<String>)>;

/// Clients posting small CSVs back to back until stopped: (status, version) of every answer.
fn load(binary: &Arc<Binary>, clients: usize, stop: &Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<Answers>> {
    (0..clients)
        .map(|_| {
            let (binary, stop) = (binary.clone(), stop.clone());
            tokio::spawn(async move {
                let body = small_csv();
                let mut seen = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    seen.push(binary.score(&body).await);
                }
                seen
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_load_the_alias_moves_twice_with_no_failed_request_and_a_corrupt_version_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let registry = Registry::from_store(Store::local(root.path()));
    let (first, second) = two_models();
    let v1 = publish(&registry, &first).await;
    let v2 = publish(&registry, &second).await;
    registry.set_alias(NAME, "champion", &v1, "test").await.unwrap();

    let binary = Arc::new(
        Binary::start(&[
            ("MODEL_REGISTRY", root.path().display().to_string()),
            ("MODEL_REFRESH_INTERVAL", "1".into()),
            ("MODEL_PATH", "/nonexistent".into()),
        ])
        .await,
    );
    assert_eq!(binary.ready().await, 200);
    let model = binary.model().await;
    assert_eq!(model["version"], v1.as_str(), "{model}");
    assert_eq!(model["alias"], "champion", "{model}");
    assert_eq!(model["fallback"], false, "{model}");

    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&binary, 4, &stop);
    tokio::time::sleep(Duration::from_millis(500)).await;

    registry.set_alias(NAME, "champion", &v2, "test").await.unwrap();
    let first_switch = binary.wait_for_version(&v2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A version that fails its checks: refused, the old model keeps answering.
    let v3 = publish_corrupt(&registry, root.path(), &first).await;
    registry.set_alias(NAME, "champion", &v3, "test").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let refusal = loop {
        let model = binary.model().await;
        if model["last_refresh"]["outcome"] == "refused" {
            break model;
        }
        assert!(Instant::now() < deadline, "the corrupt version was not refused within 10 s: {model}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refusal["version"], v2.as_str(), "{refusal}");
    assert_eq!(refusal["last_refresh"]["version"], v3.as_str(), "{refusal}");
    let message = refusal["last_refresh"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&v3) && message.contains("weights"),
        "the refusal names the version and the cause: {message}"
    );
    assert_eq!(binary.ready().await, 200, "readiness is unaffected by a refused version");

    // Second move: back to the first version.
    registry.set_alias(NAME, "champion", &v1, "test").await.unwrap();
    let second_switch = binary.wait_for_version(&v1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);

    let mut answers = Vec::new();
    for client in clients {
        answers.extend(client.await.unwrap());
    }
    let failed: Vec<_> = answers.iter().filter(|(status, _)| *status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        answers.len(),
        &failed[..failed.len().min(5)]
    );
    let versions: BTreeSet<_> = answers.iter().filter_map(|(_, v)| v.clone()).collect();
    assert_eq!(versions, BTreeSet::from([v1.clone(), v2.clone()]), "every response names the old or the new version");
    assert!(answers.len() >= 200, "only {} requests under load", answers.len());

    let metrics = binary.metrics().await;
    assert!(metrics.contains("model_serving_model_reloads_total{outcome=\"swapped\"} 2"), "{metrics}");
    assert!(metrics.contains("model_serving_model_reloads_total{outcome=\"refused\"} 1"), "{metrics}");
    let info: Vec<_> = metrics.lines().filter(|l| l.starts_with("model_serving_model_info{")).collect();
    assert_eq!(info.len(), 1, "one model_info series: {info:?}");
    assert!(info[0].contains(&format!("version=\"{v1}\"")), "{info:?}");
    assert!(metrics.contains("model_serving_model_alias_check_age_seconds "), "{metrics}");
    println!(
        "{} requests from 4 clients, 0 failed; alias move to first response from the new version: {first_switch:?} \
         and {second_switch:?} (MODEL_REFRESH_INTERVAL=1)",
        answers.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_checks_the_alias_at_once() {
    let root = tempfile::tempdir().unwrap();
    let registry = Registry::from_store(Store::local(root.path()));
    let (first, second) = two_models();
    let v1 = publish(&registry, &first).await;
    let v2 = publish(&registry, &second).await;
    registry.set_alias(NAME, "champion", &v1, "test").await.unwrap();
    // No periodic checks: only SIGHUP can pick the move up.
    let binary =
        Binary::start(&[("MODEL_REGISTRY", root.path().display().to_string()), ("MODEL_REFRESH_INTERVAL", "0".into())])
            .await;
    assert_eq!(binary.model().await["version"], v1.as_str());
    registry.set_alias(NAME, "champion", &v2, "test").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(binary.score(&small_csv()).await.1.as_deref(), Some(v1.as_str()), "no check without SIGHUP");
    let pid = binary.child.id().unwrap() as i32;
    let status = std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    let delay = binary.wait_for_version(&v2, Duration::from_secs(10)).await;
    println!("SIGHUP to first response from the new version: {delay:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn before_any_champion_the_service_is_unready_or_serves_model_path_then_follows_the_first_promotion() {
    let root = tempfile::tempdir().unwrap();
    let registry = Registry::from_store(Store::local(root.path()));
    let vars = |model_path: &Path| {
        vec![
            ("MODEL_REGISTRY", root.path().display().to_string()),
            ("MODEL_REFRESH_INTERVAL", "1".into()),
            ("MODEL_PATH", model_path.display().to_string()),
        ]
    };
    // No champion, no MODEL_PATH model: unready, and /compute says why.
    let empty = Binary::start(&vars(Path::new("/nonexistent"))).await;
    assert_eq!(empty.ready().await, 503);
    let answer = empty
        .client
        .post(format!("{}/compute", empty.base))
        .header("Content-Type", "text/csv")
        .body(small_csv())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    let error: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(error["error"]["code"], "model_not_ready", "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("champion"), "{error}");

    // No champion, a MODEL_PATH model: served meanwhile, and /model says so.
    let fallback = Binary::start(&vars(&common::fixture().model_dir)).await;
    assert_eq!(fallback.ready().await, 200);
    let model = fallback.model().await;
    assert_eq!(model["fallback"], true, "{model}");

    // The first promotion: both pick it up.
    let v1 = publish(&registry, &two_models().1).await;
    registry.set_alias(NAME, "champion", &v1, "test").await.unwrap();
    let first = empty.wait_for_version(&v1, Duration::from_secs(10)).await;
    fallback.wait_for_version(&v1, Duration::from_secs(10)).await;
    assert_eq!(empty.ready().await, 200);
    assert_eq!(fallback.model().await["fallback"], false);
    println!("first promotion to first response: {first:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_s3_the_service_follows_the_alias_and_a_pinned_version_stays() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = common::start_s3(dir.path()).await;
    common::create_bucket(&endpoint, "models").await;
    let aws = [
        ("AWS_ACCESS_KEY_ID", s3_test_server::ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", s3_test_server::SECRET_KEY.to_string()),
        ("AWS_ENDPOINT_URL_S3", endpoint.clone()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    let options = object_storage::S3Options::resolve(
        "s3://models/registry",
        &object_storage::S3Settings::default(),
        &object_storage::AwsEnv::from_lookup(|k| aws.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())),
    )
    .unwrap();
    let registry = Registry::from_store(Store::s3(options).unwrap());
    let (first, second) = two_models();
    let v1 = publish(&registry, &first).await;
    let v2 = publish(&registry, &second).await;
    registry.set_alias(NAME, "champion", &v1, "test").await.unwrap();

    let mut vars: Vec<(&str, String)> = aws.to_vec();
    vars.push(("MODEL_REGISTRY", "s3://models/registry".into()));
    vars.push(("MODEL_REFRESH_INTERVAL", "1".into()));
    let following = Binary::start(&vars).await;
    vars.push(("MODEL_VERSION", v1.clone()));
    let pinned = Binary::start(&vars).await;
    assert_eq!(following.model().await["version"], v1.as_str());

    registry.set_alias(NAME, "champion", &v2, "test").await.unwrap();
    let delay = following.wait_for_version(&v2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pinned.score(&small_csv()).await.1.as_deref(), Some(v1.as_str()), "a pinned version never moves");
    let model = following.model().await;
    assert_eq!(model["last_refresh"]["outcome"], "unchanged", "later checks find the alias unchanged: {model}");
    println!("S3: alias move to first response from the new version: {delay:?}");
}
