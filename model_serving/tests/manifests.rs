//! The Kubernetes manifests against the real binary: `model-serving` started with exactly the
//! environment the base manifests give the container (the ConfigMap, plus the image's
//! MODEL_PATH), with only the in-cluster host names and the port replaced, answers the
//! Deployment's startup, liveness and readiness probe paths within the probes' timeouts, and
//! announces itself to the engine the ConfigMap names.
//!
//! It starts the `model-serving` binary of the build the tests made (CI compiles the workspace
//! once); `MODEL_SERVING_BIN` points it at another build of the same source instead, e.g. the
//! release binary the image ships (`cargo build --release -p model_serving`).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_norway::Value;

fn manifest(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kubernetes/base").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Probe {
    kind: &'static str,
    path: String,
    timeout: Duration,
}

fn probes(container: &Value) -> Vec<Probe> {
    ["startupProbe", "livenessProbe", "readinessProbe"]
        .into_iter()
        .map(|kind| {
            let p = &container[kind];
            let get = &p["httpGet"];
            assert_eq!(get["port"].as_str(), Some("http"), "{kind} must target the port named http");
            Probe {
                kind,
                path: get["path"].as_str().unwrap_or_else(|| panic!("{kind} has no httpGet.path")).to_string(),
                // Kubernetes' default timeoutSeconds is 1.
                timeout: Duration::from_secs(p["timeoutSeconds"].as_u64().unwrap_or(1)),
            }
        })
        .collect()
}

fn serving_binary() -> PathBuf {
    match std::env::var_os("MODEL_SERVING_BIN") {
        Some(bin) => {
            let bin = PathBuf::from(bin);
            assert!(
                bin.is_file(),
                "MODEL_SERVING_BIN={} is not a file; build it with `cargo build --release -p model_serving --bin model-serving`",
                bin.display()
            );
            bin
        }
        None => PathBuf::from(env!("CARGO_BIN_EXE_model-serving")),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_with_the_configmap_environment_answers_the_probes() {
    let configmap = manifest("configmap.yaml");
    let deployment = manifest("deployment.yaml");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let http_port = container["ports"]
        .as_sequence()
        .and_then(|ports| ports.iter().find(|p| p["name"].as_str() == Some("http")))
        .and_then(|p| p["containerPort"].as_u64())
        .expect("the container declares a port named http");
    let data = configmap["data"].as_mapping().expect("ConfigMap data");
    let env: Vec<(String, String)> = data
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v.as_str().expect("ConfigMap values are strings").to_string()))
        .collect();
    let get = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(get("SERVICE_PORT"), http_port.to_string(), "SERVICE_PORT must be the container's http port");

    let mut engine = common::engine::start_engine().await;
    let port = free_port();
    let service_url = get("SERVICE_URL");
    let engine_urls = get("ENGINE_URLS");
    assert!(service_url.contains("ae-anomaly-detection-service:9090"), "SERVICE_URL changed: {service_url}");
    assert!(engine_urls.contains("core-engine-service:8080"), "ENGINE_URLS changed: {engine_urls}");
    let local = |v: &str| {
        v.replace("ae-anomaly-detection-service:9090", &format!("127.0.0.1:{port}"))
            .replace("http://core-engine-service:8080", &engine.url)
    };

    let mut cmd = tokio::process::Command::new(serving_binary());
    cmd.env_clear().kill_on_drop(true);
    for (k, v) in &env {
        let v = if k == "SERVICE_PORT" { port.to_string() } else { local(v) };
        cmd.env(k, v);
    }
    // What the image adds (model_serving/Dockerfile): the baked-in model's path.
    cmd.env("MODEL_PATH", &common::fixture().model_dir);
    let mut child = cmd.spawn().expect("start model-serving");

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let probes = probes(container);
    let startup = &probes[0];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("model-serving exited with {status} before its startup probe passed");
        }
        let r = client.get(format!("{base}{}", startup.path)).timeout(startup.timeout).send().await;
        if r.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "the startup probe {} never answered 2xx", startup.path);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for p in &probes {
        let r = client
            .get(format!("{base}{}", p.path))
            .timeout(p.timeout)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} {}: no answer within {:?}: {e}", p.kind, p.path, p.timeout));
        assert!(r.status().is_success(), "{} {} answered {}", p.kind, p.path, r.status());
    }
    let announce = engine.wait_for("POST", "/services").await;
    assert!(announce.body.to_string().contains(&format!("127.0.0.1:{port}")), "announced {}", announce.body);

    child.start_kill().expect("stop model-serving");
    let _ = child.wait().await;
}

/// SIGTERM comes after the preStop sleep; the service then drains for SHUTDOWN_DRAIN and exits at
/// most SHUTDOWN_TIMEOUT later. All of it must fit in the grace period, or the kubelet kills the
/// process mid-drain.
#[test]
fn the_grace_period_covers_the_pre_stop_sleep_the_drain_and_the_shutdown_timeout() {
    let deployment = manifest("deployment.yaml");
    let pod = &deployment["spec"]["template"]["spec"];
    let grace = pod["terminationGracePeriodSeconds"].as_u64().expect("terminationGracePeriodSeconds is set");
    let pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64().unwrap_or(0);
    let configmap = manifest("configmap.yaml");
    let vars: std::collections::HashMap<String, String> = configmap["data"]
        .as_mapping()
        .expect("ConfigMap data")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v.as_str().unwrap().to_string()))
        .collect();
    let config = model_serving::config::Config::from_vars(&vars).expect("the ConfigMap is a valid configuration");
    let needed = Duration::from_secs(pre_stop) + config.shutdown_drain + config.shutdown_timeout;
    assert!(
        needed + Duration::from_secs(2) <= Duration::from_secs(grace),
        "preStop {pre_stop} s + SHUTDOWN_DRAIN {:?} + SHUTDOWN_TIMEOUT {:?} leaves under 2 s of the {grace} s grace period",
        config.shutdown_drain,
        config.shutdown_timeout
    );
}

/// The streaming StatefulSet of the minikube overlay: no injected service variables, a broker
/// session per pod, and as many partitions as replicas, each pod taking its ordinal; and the
/// settings it gives are ones the service takes.
#[test]
fn the_streaming_replicas_partition_the_sources_by_their_ordinal() {
    use serde::Deserialize;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kubernetes/overlays/minikube/streaming.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let docs: Vec<Value> =
        serde_norway::Deserializer::from_str(&text).map(|d| Value::deserialize(d).unwrap()).collect();
    let set = docs.iter().find(|d| d["kind"] == "StatefulSet").expect("a StatefulSet");
    let pod = &set["spec"]["template"]["spec"];
    assert_eq!(pod["enableServiceLinks"], Value::Bool(false), "Kubernetes must inject no variables");
    let env = pod["containers"][0]["env"].as_sequence().unwrap();
    let value =
        |name: &str| env.iter().find(|e| e["name"] == name).map(|e| e["value"].as_str().unwrap_or("").to_string());
    let replicas = set["spec"]["replicas"].as_u64().unwrap();
    assert_eq!(value("MQTT_PARTITION"), Some(format!("$(POD_INDEX)/{replicas}")));
    assert_eq!(value("MQTT_CLIENT_ID").as_deref(), Some("$(POD_NAME)"));
    let index = env.iter().find(|e| e["name"] == "POD_INDEX").unwrap();
    assert_eq!(index["valueFrom"]["fieldRef"]["fieldPath"], "metadata.labels['apps.kubernetes.io/pod-index']");
    // As the kubelet expands them for the last pod, the settings are valid.
    let mut vars = std::collections::HashMap::new();
    for name in ["MQTT_URL", "MQTT_CLIENT_ID", "MQTT_PARTITION"] {
        let v = value(name)
            .unwrap()
            .replace("$(POD_INDEX)", &(replicas - 1).to_string())
            .replace("$(POD_NAME)", "stream-1");
        vars.insert(name.to_string(), v);
    }
    let config = model_serving::config::Config::from_vars(&vars).unwrap();
    assert_eq!(
        config.mqtt_partition,
        model_serving::config::Partition { index: replicas as u32 - 1, count: replicas as u32 }
    );
}
