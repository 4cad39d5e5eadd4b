//! Core engine integration against a stand-in engine (answers as the observed engine does) and
//! an in-process S3 with signature checks: announce, 409 re-announce, ping 404 re-announce,
//! tasks that finish or fail with a clear message, queue full, callback retries, `sleeping` on
//! shutdown. The service's requests are checked against the recorded wire shapes.

mod common;

use std::time::Duration;

use common::engine::{EngineHandle, start_engine};
use common::{S3_SECRET_KEY, create_bucket, csv_body, fixture, get_object, put_object, start_s3};
use model_serving::Service;
use model_serving::config::Config;
use serde_json::{Value, json};

const SLUG: &str = "ae-anomaly-detection";

/// The recorded exchanges (`observed-wire.jsonl`), one JSON object per line.
fn recorded() -> Vec<Value> {
    include_str!("fixtures/observed-wire.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The recorded request body of the first service->engine exchange matching method and path.
fn recorded_request(method: &str, path_contains: &str, status: u64) -> Value {
    recorded()
        .into_iter()
        .find(|r| {
            r["dir"] == "service->engine"
                && r["method"] == method
                && r["url"].as_str().unwrap().contains(path_contains)
                && r["status"] == status
        })
        .unwrap_or_else(|| panic!("no recorded {method} *{path_contains}*"))["req_body"]
        .clone()
}

/// Same JSON shape: same object keys, same scalar types, arrays compared by their first item.
fn assert_same_shape(recorded: &Value, ours: &Value, at: &str) {
    match (recorded, ours) {
        (Value::Object(a), Value::Object(b)) => {
            let mut ka: Vec<&String> = a.keys().collect();
            let mut kb: Vec<&String> = b.keys().collect();
            ka.sort();
            kb.sort();
            assert_eq!(ka, kb, "keys differ at {at}");
            for (k, v) in a {
                assert_same_shape(v, &b[k], &format!("{at}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let (Some(x), Some(y)) = (a.first(), b.first()) {
                assert_same_shape(x, y, &format!("{at}[0]"));
            }
        }
        (a, b) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "type differs at {at}: recorded {a}, ours {b}"
        ),
    }
}

struct Served {
    service: Service,
    base: String,
}

/// The service with `engine` as its engine and `s3_hosts` as the S3 servers tasks may name.
async fn start_with_engine(engine: &EngineHandle, s3_hosts: &[&str], tweak: impl FnOnce(&mut Config)) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = common::config_for(&fixture().model_dir);
    config.service_url = base.clone();
    config.engine_urls = vec![engine.url.clone()];
    config.engine_s3_hosts = s3_hosts.iter().map(|h| h.to_string()).collect();
    config.engine_ping_interval = Duration::from_millis(200);
    config.engine_announce_retry_delay = Duration::from_millis(50);
    tweak(&mut config);
    let service = model_serving::start(config, listener).await.unwrap();
    Served { service, base }
}

/// An S3 server over `root` with the bucket `engine` holding `in.csv` (50 rows).
async fn s3_with_input(root: &std::path::Path) -> String {
    let s3 = start_s3(root).await;
    create_bucket(&s3, "engine").await;
    put_object(&s3, "engine", "in.csv", csv_body(&fixture().test_rows[..50]).into_bytes()).await;
    s3
}

fn task_message(s3: &str, secret: &str, key: &str, engine: &str, id: &str) -> Value {
    let mut msg = recorded()
        .into_iter()
        .find(|r| r["dir"] == "engine->service" && r["method"] == "POST" && r["status"] == 200)
        .unwrap()["req_body"]
        .clone();
    msg["s3_host"] = json!(s3);
    msg["s3_access_key_id"] = json!(common::S3_ACCESS_KEY);
    msg["s3_secret_access_key"] = json!(secret);
    msg["s3_region"] = json!("us-east-1");
    msg["s3_bucket"] = json!("engine");
    msg["task"]["id"] = json!(id);
    msg["task"]["data_in"] = json!([key]);
    msg["callback_url"] = json!(format!("{engine}/tasks/{id}"));
    msg
}

async fn submit(base: &str, msg: &Value) -> (u16, Value) {
    let resp = reqwest::Client::new().post(format!("{base}/compute")).json(msg).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn announces_reannounces_after_409_and_ping_404_and_sleeps_on_shutdown() {
    let mut engine = start_engine().await;
    let first = start_with_engine(&engine, &[], |_| {}).await;

    // The engine checks GET /status while handling the announcement: the service already serves.
    let check = engine.wait_for("CHECK", "/status").await;
    assert_eq!(check.status, 200);
    let announce = engine.wait_for("POST", "/services").await;
    assert_eq!(announce.status, 200);
    assert_same_shape(&recorded_request("POST", "/services", 200), &announce.body, "announce");
    assert_eq!(announce.body["slug"], SLUG);
    assert_eq!(announce.body["name"], "Autoencoder Anomaly Detection");
    assert_eq!(announce.body["url"], first.base.as_str());
    assert_eq!(announce.body["data_in_fields"], json!([{"name": "text", "type": ["text/csv", "text/plain"]}]));
    assert_eq!(announce.body["data_out_fields"][0], json!({"name": "result", "type": ["image/png"]}));
    assert_eq!(announce.body["data_out_fields"][1], json!({"name": "scores", "type": ["application/json"]}));
    assert_eq!(
        announce.body["tags"],
        json!([{"name": "Anomaly Detection", "acronym": "AD"}, {"name": "Time Series", "acronym": "TS"}])
    );
    assert_eq!(announce.body["has_ai"], true);

    let ping = engine.wait_for("POST", &format!("/services/{SLUG}/ping")).await;
    assert_eq!(ping.status, 200);
    assert_same_shape(&recorded_request("POST", "/ping", 200), &ping.body, "ping");

    // The engine restarts without its database: the next ping is 404 and the service announces again.
    engine.forget_services();
    let ping = engine.wait_for("POST", &format!("/services/{SLUG}/ping")).await;
    assert_eq!(ping.status, 404);
    let again = engine.wait_for("POST", "/services").await;
    assert_eq!(again.status, 200);
    let id = engine.service_id(SLUG).unwrap();

    // A second instance finds the slug taken: 409, look-up by slug, PATCH of the full description.
    let second = start_with_engine(&engine, &[], |_| {}).await;
    let conflict = engine.wait_for("POST", "/services").await;
    assert_eq!(conflict.status, 409);
    engine.wait_for("GET", &format!("/services/slug/{SLUG}")).await;
    let patch = engine.wait_for("PATCH", &format!("/services/{id}")).await;
    assert_eq!(patch.status, 200);
    assert_same_shape(&recorded_request("POST", "/services", 409), &patch.body, "409 patch");
    assert_eq!(patch.body["url"], second.base.as_str());
    assert_eq!(patch.body["slug"], SLUG);

    // Shutdown marks the service sleeping on the engine.
    second.service.shutdown().await.unwrap();
    let sleeping = engine.wait_for("PATCH", &format!("/services/{id}")).await;
    assert_eq!(sleeping.body, json!({"status": "sleeping"}));
    assert_same_shape(&recorded_request("PATCH", "/services/", 200), &sleeping.body, "sleeping");
    assert_eq!(sleeping.status, 200);
    first.service.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_with_a_csv_from_s3_finishes_with_a_png_and_the_synchronous_scores() {
    let root = tempfile::tempdir().unwrap();
    let s3 = start_s3(root.path()).await;
    create_bucket(&s3, "engine").await;
    let csv = csv_body(&fixture().test_rows[..400]);
    let key = "1fb1f249-3c0f-4267-8ab9-a33dff714669.csv";
    put_object(&s3, "engine", key, csv.clone().into_bytes()).await;
    let mut engine = start_engine().await;
    let served = start_with_engine(&engine, &[&s3], |_| {}).await;

    let id = "479721da-c167-4e32-94fb-cbfd135196c4";
    let (status, body) = submit(&served.base, &task_message(&s3, S3_SECRET_KEY, key, &engine.url, id)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"status": "Task added to the queue"}));

    let callback = engine.wait_for("PATCH", &format!("/tasks/{id}")).await;
    assert_eq!(callback.status, 200, "{}", callback.body);
    assert_same_shape(&recorded_request("PATCH", "/tasks/", 200), &callback.body, "callback");
    assert_eq!(callback.body["status"], "finished", "{}", callback.body);
    let keys: Vec<String> = serde_json::from_value(callback.body["data_out"].clone()).unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys[0].ends_with(".png") && keys[1].ends_with(".json"), "{keys:?}");

    let png = get_object(&s3, "engine", &keys[0]).await;
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let reader = decoder.read_info().expect("the result is a valid PNG");
    assert!(reader.info().width >= 600, "a plot, not a placeholder");

    let scores: Value = serde_json::from_slice(&get_object(&s3, "engine", &keys[1]).await).unwrap();
    let sync: Value = reqwest::Client::new()
        .post(format!("{}/compute", served.base))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(scores, sync);
    // The output explains each anomalous row, as /compute does.
    let explained = scores["explanations"].as_array().map(Vec::len);
    assert_eq!(explained, scores["anomaly_count"].as_u64().map(|n| n as usize), "{scores}");

    let status: Value = reqwest::get(format!("{}/tasks/{id}/status", served.base)).await.unwrap().json().await.unwrap();
    assert_eq!(status, json!({"status": "finished"}));
    let unknown = reqwest::get(format!("{}/tasks/nope/status", served.base)).await.unwrap();
    assert_eq!(unknown.status(), 404);
    served.service.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_tasks_end_in_error_with_a_clear_message_and_the_worker_keeps_going() {
    let root = tempfile::tempdir().unwrap();
    let s3 = start_s3(root.path()).await;
    create_bucket(&s3, "engine").await;
    let mut bad = csv_body(&fixture().test_rows[..20]);
    bad = bad.replacen(",0\n", ",0\n2024-01-01T01:00:00,1,2,oops,4,5,6,0\n", 1);
    put_object(&s3, "engine", "bad.csv", bad.into_bytes()).await;
    put_object(&s3, "engine", "picture.png", vec![0x89, b'P', b'N', b'G']).await;
    put_object(&s3, "engine", "good.csv", csv_body(&fixture().test_rows[..50]).into_bytes()).await;
    let mut engine = start_engine().await;
    let served = start_with_engine(&engine, &[&s3, "http://127.0.0.1:9"], |_| {}).await;

    let cases = [
        ("t-bad-csv", s3.as_str(), S3_SECRET_KEY, "bad.csv", vec!["bad.csv", "line 3", "oops", "not a number"]),
        ("t-missing", s3.as_str(), S3_SECRET_KEY, "absent.csv", vec!["absent.csv", "does not exist"]),
        ("t-secret", s3.as_str(), "wrong-secret", "good.csv", vec!["refused the credentials", "secret"]),
        ("t-type", s3.as_str(), S3_SECRET_KEY, "picture.png", vec!["picture.png", ".png", "text/csv"]),
        (
            "t-s3-down",
            "http://127.0.0.1:9",
            S3_SECRET_KEY,
            "good.csv",
            vec!["reading the input s3://engine/good.csv", "did not answer", "127.0.0.1:9"],
        ),
    ];
    for (id, host, secret, key, needles) in &cases {
        let (status, body) = submit(&served.base, &task_message(host, secret, key, &engine.url, id)).await;
        assert_eq!(status, 200, "{body}");
        let callback = engine.wait_for("PATCH", &format!("/tasks/{id}")).await;
        assert_eq!(callback.status, 200);
        assert_eq!(callback.body["status"], "error", "{id}: {}", callback.body);
        assert_eq!(callback.body["data_out"], json!([]), "data_out is always a list");
        let message = callback.body["error_message"].as_str().unwrap();
        for n in needles {
            assert!(message.contains(n), "{id}: {message:?} should mention {n:?}");
        }
        let status: Value =
            reqwest::get(format!("{}/tasks/{id}/status", served.base)).await.unwrap().json().await.unwrap();
        assert_eq!(status["status"], "error");
    }

    // The worker is still there.
    let (status, _) = submit(&served.base, &task_message(&s3, S3_SECRET_KEY, "good.csv", &engine.url, "t-ok")).await;
    assert_eq!(status, 200);
    let callback = engine.wait_for("PATCH", "/tasks/t-ok").await;
    assert_eq!(callback.body["status"], "finished");

    // A message that is not a valid task is refused at once.
    let mut invalid = task_message(&s3, S3_SECRET_KEY, "good.csv", &engine.url, "t-invalid");
    invalid["callback_url"] = json!("not a url");
    let (status, body) = submit(&served.base, &invalid).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("callback_url"));
    served.service.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_503_and_failed_callbacks_are_retried() {
    let root = tempfile::tempdir().unwrap();
    let s3 = s3_with_input(root.path()).await;
    let mut engine = start_engine().await;
    let served = start_with_engine(&engine, &[&s3], |c| c.max_tasks = 1).await;

    engine.hold_callbacks(true);
    let (status, _) = submit(&served.base, &task_message(&s3, S3_SECRET_KEY, "in.csv", &engine.url, "a")).await;
    assert_eq!(status, 200);
    engine.wait_for("HELD", "/tasks/a").await;
    // Task a holds the only slot until its callback is answered.
    let (status, body) = submit(&served.base, &task_message(&s3, S3_SECRET_KEY, "in.csv", &engine.url, "b")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "queue_full");
    engine.hold_callbacks(false);
    assert_eq!(engine.wait_for("PATCH", "/tasks/a").await.body["status"], "finished");
    // The slot is given back once the callback's answer is read, a moment after the engine saw
    // it: wait for that, or a loaded machine sees task c refused too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let metrics = reqwest::get(format!("{}/metrics", served.base)).await.unwrap().text().await.unwrap();
        if metrics.lines().any(|l| l == "model_serving_engine_task_queue_depth 0") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "task a's slot was not given back:\n{metrics}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // The engine answers 503 to the first callback: the service retries and the task still lands.
    engine.fail_next_callbacks(1);
    let (status, _) = submit(&served.base, &task_message(&s3, S3_SECRET_KEY, "in.csv", &engine.url, "c")).await;
    assert_eq!(status, 200);
    assert_eq!(engine.wait_for("PATCH", "/tasks/c").await.status, 503);
    let retried = engine.wait_for("PATCH", "/tasks/c").await;
    assert_eq!(retried.status, 200);
    assert_eq!(retried.body["status"], "finished");

    let metrics = reqwest::get(format!("{}/metrics", served.base)).await.unwrap().text().await.unwrap();
    for line in [
        "model_serving_engine_callback_retries_total 1",
        "model_serving_engine_tasks_total{outcome=\"finished\"} 2",
        "model_serving_engine_tasks_total{outcome=\"rejected\"} 1",
        "model_serving_engine_task_queue_depth 0",
        "model_serving_engine_task_duration_seconds_count 2",
        // The worker scores and plots through the service's scorer: its counts and CPU line.
        "model_serving_rows_scored_total 100",
        "model_serving_scoring_duration_seconds_count 2",
        "model_serving_queue_wait_seconds_count 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing {line:?} in\n{metrics}");
    }
    served.service.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_finishes_queued_tasks_before_saying_sleeping() {
    let root = tempfile::tempdir().unwrap();
    let s3 = s3_with_input(root.path()).await;
    let mut engine = start_engine().await;
    let served = start_with_engine(&engine, &[&s3], |_| {}).await;
    engine.wait_for("POST", "/services").await;
    let id = engine.service_id(SLUG).unwrap();

    engine.hold_callbacks(true);
    let (status, _) = submit(&served.base, &task_message(&s3, S3_SECRET_KEY, "in.csv", &engine.url, "q1")).await;
    assert_eq!(status, 200);
    engine.wait_for("HELD", "/tasks/q1").await;
    let base = served.base.clone();
    let shutdown = tokio::spawn(served.service.shutdown());
    // While draining, readiness is off and new tasks are refused.
    while reqwest::get(format!("{base}/health/ready")).await.unwrap().status() != 503 {
        tokio::task::yield_now().await;
    }
    let (status, _) = submit(&base, &task_message(&s3, S3_SECRET_KEY, "in.csv", &engine.url, "q2")).await;
    assert_eq!(status, 503);
    engine.hold_callbacks(false);
    assert_eq!(engine.wait_for("PATCH", "/tasks/q1").await.body["status"], "finished");
    let sleeping = engine.wait_for("PATCH", &format!("/services/{id}")).await;
    assert_eq!(sleeping.body, json!({"status": "sleeping"}));
    shutdown.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stand_in_engine_names_each_field_of_a_callback_it_refuses() {
    // A refused callback is logged with the engine's answer: that answer must say what was wrong
    // (an unknown status is not a missing output), as FastAPI's validation does.
    let engine = start_engine().await;
    let patch = |body: Value| {
        let url = format!("{}/tasks/t1", engine.url);
        async move {
            let resp = reqwest::Client::new().patch(url).json(&body).send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = patch(json!({"status": "done", "data_out": []})).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "status"]), "{body}");
    assert_eq!(body["detail"][0]["type"], "enum", "{body}");

    let (status, body) = patch(json!({"status": "finished"})).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "data_out"]), "{body}");
    assert_eq!(body["detail"][0]["type"], "missing", "{body}");

    let (status, body) = patch(json!({"status": "finished", "data_out": null})).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["type"], "list_type", "{body}");

    let (status, body) = patch(json!({"data_out": "x"})).await;
    assert_eq!(status, 422);
    let locs: Vec<&Value> = body["detail"].as_array().unwrap().iter().map(|d| &d["loc"][1]).collect();
    assert_eq!(locs, [&json!("status"), &json!("data_out")], "both problems are listed: {body}");

    let (status, _) = patch(json!({"status": "finished", "data_out": []})).await;
    assert_eq!(status, 200);
}

/// Counts the TCP connections made to a listener on `ip`: a host the service must not reach.
async fn foreign_host(ip: &str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0")).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (url, connections)
}

#[tokio::test(flavor = "multi_thread")]
async fn task_messages_naming_other_hosts_are_refused_with_403_and_nothing_is_called() {
    use std::sync::atomic::Ordering;
    let root = tempfile::tempdir().unwrap();
    let s3 = s3_with_input(root.path()).await;
    let mut engine = start_engine().await;
    let served = start_with_engine(&engine, &[&s3], |_| {}).await;
    engine.wait_for("POST", "/services").await;
    // Foreign hosts: a second loopback address, and another port of the engine's address.
    let (other_address, reached_address) = foreign_host("127.0.0.2").await;
    let (other_port, reached_port) = foreign_host("127.0.0.1").await;

    for (id, s3_host, callback_base, setting) in [
        ("r1", s3.as_str(), other_address.as_str(), "ENGINE_CALLBACK_HOSTS"),
        ("r2", s3.as_str(), other_port.as_str(), "ENGINE_CALLBACK_HOSTS"),
        ("r3", other_address.as_str(), engine.url.as_str(), "ENGINE_S3_HOSTS"),
        ("r4", other_port.as_str(), engine.url.as_str(), "ENGINE_S3_HOSTS"),
    ] {
        let message = task_message(s3_host, S3_SECRET_KEY, "in.csv", callback_base, id);
        let (status, body) = submit(&served.base, &message).await;
        assert_eq!(status, 403, "{id}: {body}");
        assert_eq!(body["error"]["code"], "task_refused", "{body}");
        let text = body["error"]["message"].as_str().unwrap();
        assert!(text.contains(setting), "{id}: {text:?} should name {setting}");
        let status = reqwest::get(format!("{}/tasks/{id}/status", served.base)).await.unwrap().status();
        assert_eq!(status, 404, "{id}: a refused task is not known");
    }
    // Had any been queued, its worker would have reached these hosts by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(reached_address.load(Ordering::SeqCst), 0, "nothing may reach a foreign callback or S3 host");
    assert_eq!(reached_port.load(Ordering::SeqCst), 0, "nothing may reach a foreign callback or S3 host");
    let metrics = reqwest::get(format!("{}/metrics", served.base)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("model_serving_engine_tasks_total{outcome=\"refused\"} 4"), "{metrics}");

    // The engine's own task still runs.
    let message = task_message(&s3, S3_SECRET_KEY, "in.csv", &engine.url, "ok");
    assert_eq!(submit(&served.base, &message).await.0, 200);
    assert_eq!(engine.wait_for("PATCH", "/tasks/ok").await.body["status"], "finished");
    served.service.shutdown().await.unwrap();

    // Without ENGINE_URLS the service takes no task at all.
    let standalone = common::start_default().await;
    let (status, body) = submit(&standalone.base, &message).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("ENGINE_URLS is empty"), "{body}");
    standalone.service.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_queued_while_the_registry_alias_moves_all_finish_naming_the_version_that_scored_them() {
    use model_registry::{PublishInfo, Registry};
    let root = tempfile::tempdir().unwrap();
    let s3 = s3_with_input(root.path()).await;
    // A registry with two versions: the fixture and one that differs in its metadata.
    let registry_dir = tempfile::tempdir().unwrap();
    let registry = Registry::from_store(object_storage::Store::local(registry_dir.path()));
    let info = || PublishInfo {
        published_by: "engine test".into(),
        git_commit: None,
        metrics: None,
        metrics_data: None,
        dvc_lock_md5: None,
    };
    let v1 = registry.publish("ae", &fixture().model_dir, info()).await.unwrap().version;
    let mut second = common::load_model();
    second.meta.version = "second".into();
    let second_dir = tempfile::tempdir().unwrap();
    second.save(&second_dir.path().join("model")).unwrap();
    let v2 = registry.publish("ae", &second_dir.path().join("model"), info()).await.unwrap().version;
    registry.set_alias("ae", "champion", &v1, "test").await.unwrap();

    let mut engine = start_engine().await;
    let served = start_with_engine(&engine, &[&s3], |c| {
        c.model_registry = Some(model_serving::config::RegistryRoot::Local(registry_dir.path().to_path_buf()));
        c.model_name = "ae".into();
        // Only the explicit check below moves the model.
        c.model_refresh_interval = Duration::ZERO;
    })
    .await;
    engine.wait_for("POST", "/services").await;

    // Six tasks, the alias moving (and the service checking it) after the third is queued.
    let ids: Vec<String> = (0..6).map(|i| format!("00000000-0000-4000-8000-00000000000{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let (status, body) = submit(&served.base, &task_message(&s3, S3_SECRET_KEY, "in.csv", &engine.url, id)).await;
        assert_eq!(status, 200, "{body}");
        if i == 2 {
            registry.set_alias("ae", "champion", &v2, "test").await.unwrap();
            served.service.check_model_now();
        }
    }
    let mut versions = Vec::new();
    for _ in &ids {
        let callback = engine.wait_for("PATCH", "/tasks/*").await;
        assert_eq!(callback.body["status"], "finished", "a swap never fails a task: {}", callback.body);
        let keys: Vec<String> = serde_json::from_value(callback.body["data_out"].clone()).unwrap();
        let scores: Value = serde_json::from_slice(&get_object(&s3, "engine", &keys[1]).await).unwrap();
        versions.push(scores["model_version"].as_str().unwrap().to_string());
    }
    assert!(versions.iter().all(|v| *v == v1 || *v == v2), "{versions:?}");

    // Once the swap is done, a new task is scored by the new version.
    let last = "00000000-0000-4000-8000-000000000009";
    submit(&served.base, &task_message(&s3, S3_SECRET_KEY, "in.csv", &engine.url, last)).await;
    let callback = engine.wait_for("PATCH", &format!("/tasks/{last}")).await;
    let keys: Vec<String> = serde_json::from_value(callback.body["data_out"].clone()).unwrap();
    let scores: Value = serde_json::from_slice(&get_object(&s3, "engine", &keys[1]).await).unwrap();
    assert_eq!(scores["model_version"], v2.as_str(), "versions of the earlier tasks: {versions:?}");
    served.service.shutdown().await.unwrap();
}
