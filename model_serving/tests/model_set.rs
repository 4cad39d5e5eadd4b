//! Serving a model set (one model per machine, `data.group_by`): rows are routed by their group
//! column, a request may mix machines, an unknown machine is a 422 naming it unless the set has
//! a fallback model, and `/model` lists the members. Through the real HTTP stack.

mod common;

use std::path::Path;

use common::set::{copy_dir, set_fixture};
use common::{config_for, start};
use model_creation::simulate::FEATURES;

/// CSV of `rows` with the machine column between the timestamp and the features.
fn csv(rows: &[(String, [f64; 6])]) -> String {
    let mut out = format!("timestamp,machine,{}\n", FEATURES.join(","));
    for (i, (machine, r)) in rows.iter().enumerate() {
        let values: Vec<String> = r.iter().map(f64::to_string).collect();
        out.push_str(&format!("{i},{machine},{}\n", values.join(",")));
    }
    out
}

/// `machine`'s test rows scored by its own member alone (or by the fallback).
fn alone(set: &Path, member_dir: &str, rows: &[[f64; 6]]) -> model_core::Scores {
    let model = model_core::Model::load(&set.join(member_dir)).unwrap();
    let frame = model_core::Frame {
        columns: FEATURES.iter().map(|s| s.to_string()).collect(),
        n_rows: rows.len(),
        values: rows.iter().flatten().copied().collect(),
    };
    model.score_frame(&frame, "rows").unwrap()
}

async fn post(client: &reqwest::Client, base: &str, content_type: &str, body: String) -> (u16, serde_json::Value) {
    let response = client
        .post(format!("{base}/compute?explain=anomalies"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_mixed_request_is_scored_row_by_row_by_each_machines_own_model() {
    let fixture = set_fixture();
    let service = start(config_for(&fixture.with_fallback)).await;
    let base = service.base.clone();
    let client = service.client.clone();

    // m01 and m03 (the faulty one) interleaved row by row, as a gateway sends them.
    let m01: Vec<_> = fixture.test.iter().filter(|(m, _)| m == "m01").take(150).cloned().collect();
    let m03: Vec<_> = fixture.test.iter().filter(|(m, _)| m == "m03").take(150).cloned().collect();
    let mixed: Vec<_> = m01.iter().zip(&m03).flat_map(|(a, b)| [a.clone(), b.clone()]).collect();
    let (status, body) = post(&client, &base, "text/csv", csv(&mixed)).await;
    assert_eq!(status, 200, "{body}");
    let scores: Vec<f64> = body["scores"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap()).collect();
    assert_eq!(scores.len(), 300);
    assert!(body.get("threshold").is_none(), "a set has a threshold per group: {body}");

    // Each machine's scores are its own model's on its rows alone, in the request's order.
    let expect_m01 = alone(&fixture.with_fallback, "groups/m01", &m01.iter().map(|r| r.1).collect::<Vec<_>>());
    let expect_m03 = alone(&fixture.with_fallback, "groups/m03", &m03.iter().map(|r| r.1).collect::<Vec<_>>());
    for i in 0..150 {
        assert_eq!(scores[2 * i] as f32, expect_m01.scores[i], "m01 row {i}");
        assert_eq!(scores[2 * i + 1] as f32, expect_m03.scores[i], "m03 row {i}");
    }
    // Anomalies are rows above their own machine's threshold.
    let mut expected_anomalies: Vec<u64> = expect_m01.anomalies.iter().map(|&i| 2 * i as u64).collect();
    expected_anomalies.extend(expect_m03.anomalies.iter().map(|&i| 2 * i as u64 + 1));
    expected_anomalies.sort_unstable();
    let anomalies: Vec<u64> = body["anomalies"].as_array().unwrap().iter().map(|a| a.as_u64().unwrap()).collect();
    assert_eq!(anomalies, expected_anomalies);
    let groups = body["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["group"], "m01");
    assert_eq!(groups[0]["rows"], 150);
    assert_eq!(groups[0]["threshold"].as_f64().unwrap(), expect_m01.threshold);
    assert_eq!(groups[1]["group"], "m03");
    assert_eq!(groups[1]["anomaly_count"], expect_m03.anomalies.len());
    assert_eq!(groups[1]["fallback"], false);
    // Explanations name rows of the request, each explained by its machine's model.
    if let Some(explained) = body["explanations"].as_array() {
        let rows: Vec<u64> = explained.iter().map(|e| e["row"].as_u64().unwrap()).collect();
        assert!(rows.iter().all(|r| anomalies.contains(r)), "{rows:?}");
    }

    // JSON rows carry their groups beside them; without groups a set cannot route them.
    let rows: Vec<Vec<f64>> = mixed.iter().map(|(_, r)| r.to_vec()).collect();
    let names: Vec<&str> = mixed.iter().map(|(m, _)| m.as_str()).collect();
    let json = serde_json::json!({"rows": rows, "groups": names}).to_string();
    let (status, from_json) = post(&client, &base, "application/json", json).await;
    assert_eq!(status, 200, "{from_json}");
    assert_eq!(from_json["scores"], body["scores"]);
    let (status, refused) =
        post(&client, &base, "application/json", serde_json::json!({"rows": rows}).to_string()).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("\"machine\" column"), "{refused}");

    // A machine the set has no model of goes to the fallback (trained on every row).
    let new_machine: Vec<_> = m01.iter().take(20).map(|(_, r)| ("m09".to_string(), *r)).collect();
    let (status, fell_back) = post(&client, &base, "text/csv", csv(&new_machine)).await;
    assert_eq!(status, 200, "{fell_back}");
    assert_eq!(fell_back["groups"][0]["fallback"], true);
    let expect = alone(&fixture.with_fallback, "fallback", &new_machine.iter().map(|r| r.1).collect::<Vec<_>>());
    let got: Vec<f32> = fell_back["scores"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap() as f32).collect();
    assert_eq!(got, expect.scores);

    // `/model` lists the set's members.
    let info: serde_json::Value = client.get(format!("{base}/model")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["set"]["group_by"], "machine");
    let members: Vec<&str> =
        info["set"]["groups"].as_array().unwrap().iter().map(|g| g["group"].as_str().unwrap()).collect();
    assert_eq!(members, ["m01", "m02", "m03"]);
    assert!(info["set"]["fallback"].is_object());
    service.service.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_machine_without_a_model_is_a_422_naming_it_when_the_set_has_no_fallback() {
    let fixture = set_fixture();
    let service = start(config_for(&fixture.without_fallback)).await;
    let base = service.base.clone();
    let client = service.client.clone();
    let mut rows: Vec<_> = fixture.test.iter().filter(|(m, _)| m == "m02").take(30).cloned().collect();
    for (i, row) in rows.iter_mut().enumerate().skip(10) {
        if i % 2 == 0 {
            row.0 = "pump-7".to_string();
        }
    }
    let (status, body) = post(&client, &base, "text/csv", csv(&rows)).await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("machine \"pump-7\" (first at data row 10) has no model in this set"), "{message}");
    assert_eq!(body["error"]["details"]["kind"], "unknown_group");
    assert_eq!(body["error"]["details"]["group"], "pump-7");
    assert_eq!(body["error"]["details"]["known"], serde_json::json!(["m01", "m02", "m03"]));

    // A group with fewer rows than a window is named too.
    let few: Vec<_> = fixture.test.iter().filter(|(m, _)| m == "m01").take(30).cloned().collect();
    let mut few = few.clone();
    few[0].0 = "m02".to_string();
    let (status, body) = post(&client, &base, "text/csv", csv(&few)).await;
    let window = model_core::Model::load(&fixture.without_fallback.join("groups/m02")).unwrap().meta.window.length;
    if window > 1 {
        assert_eq!(status, 422, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("machine=\"m02\""), "{body}");
    } else {
        assert_eq!(status, 200, "{body}");
    }

    // A tampered member is refused at load, naming it.
    let broken = tempfile::tempdir().unwrap();
    copy_dir(&fixture.without_fallback, broken.path());
    std::fs::write(broken.path().join("groups/m02/metadata.json"), b"{}").unwrap();
    let error = model_serving::model_loader::start(
        &model_serving::config::ModelSource::Path(broken.path().to_path_buf()),
        broken.path(),
    )
    .await
    .err()
    .expect("a tampered set does not load");
    let chain = model_serving::error_text::chain(&error);
    assert!(chain.contains("group \"m02\": groups/m02/metadata.json has md5"), "{chain}");
    service.service.shutdown().await.unwrap();
}

/// A set is one registry version: its card lists the groups with their own metrics, serving
/// follows an alias to it and routes by machine, and `pull` gives the set back byte for byte.
#[tokio::test]
async fn a_published_set_is_one_registry_version_served_through_its_alias() {
    use model_registry::{PublishInfo, Registry};
    let fixture = set_fixture();
    let root = tempfile::tempdir().unwrap();
    let registry = Registry::from_store(object_storage::Store::local(root.path()));
    let metrics = serde_json::json!({"roc_auc": 0.9, "groups": {"m01": {"roc_auc": 0.8}}});
    let info = PublishInfo {
        published_by: "set test".into(),
        git_commit: None,
        metrics: Some(metrics),
        metrics_data: None,
        dvc_lock_md5: None,
    };
    let card = registry.publish("fleet", &fixture.with_fallback, info).await.unwrap();
    let set = card.set.as_ref().expect("the card of a set describes it");
    assert_eq!(set.group_by, "machine");
    let groups: Vec<&str> = set.groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(groups, ["m01", "m02", "m03"]);
    assert_eq!(set.groups[0].metrics, Some(serde_json::json!({"roc_auc": 0.8})));
    assert_eq!(set.groups[1].metrics, None);
    assert!(set.fallback.is_some());
    assert_eq!(registry.versions("fleet").await.unwrap().len(), 1, "a set is one version");

    // Pulled, it is the set that was published.
    let pulled = tempfile::tempdir().unwrap();
    registry.pull("fleet", &card.version, &pulled.path().join("set")).await.unwrap();
    for file in ["set.json", "groups/m02/metadata.json", "groups/m02/weights.safetensors", "fallback/metadata.json"] {
        assert_eq!(
            std::fs::read(pulled.path().join("set").join(file)).unwrap(),
            std::fs::read(fixture.with_fallback.join(file)).unwrap(),
            "{file}"
        );
    }

    // Served through the alias: `/model` shows the set, rows go to their machine's model.
    registry.set_alias("fleet", "champion", &card.version, "test").await.unwrap();
    let registry_root = root.path().display().to_string();
    let service = common::start_with(&[
        ("MODEL_REGISTRY", registry_root.as_str()),
        ("MODEL_NAME", "fleet"),
        ("MODEL_PATH", "/nonexistent"),
    ])
    .await;
    let info: serde_json::Value =
        service.client.get(format!("{}/model", service.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["version"], card.version.as_str(), "{info}");
    assert_eq!(info["set"]["group_by"], "machine", "{info}");
    let m02: Vec<_> = fixture.test.iter().filter(|(m, _)| m == "m02").take(60).cloned().collect();
    let (status, body) = post(&service.client, &service.base, "text/csv", csv(&m02)).await;
    assert_eq!(status, 200, "{body}");
    let expect = alone(&fixture.with_fallback, "groups/m02", &m02.iter().map(|r| r.1).collect::<Vec<_>>());
    let got: Vec<f32> = body["scores"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap() as f32).collect();
    assert_eq!(got, expect.scores);
    service.service.shutdown().await.unwrap();
}

/// `publish --to s3://...` uploads a set as it uploads a model (`set.json`, its marker, last;
/// not over a published one without --force), and MODEL_URI serves it routed by machine.
#[tokio::test(flavor = "multi_thread")]
async fn a_set_published_under_an_s3_prefix_is_served_from_model_uri() {
    use object_storage::{AwsEnv, S3Options, S3Settings, Store};
    let fixture = set_fixture();
    let root = tempfile::tempdir().unwrap();
    let s3 = common::start_s3(root.path()).await;
    common::create_bucket(&s3, "models").await;
    let settings = S3Settings {
        endpoint_url: Some(s3.clone()),
        access_key_id: Some(common::S3_ACCESS_KEY.into()),
        secret_access_key: Some(common::S3_SECRET_KEY.into()),
        ..S3Settings::default()
    };
    let store = Store::s3(S3Options::resolve("s3://models/fleet/1/", &settings, &AwsEnv::default()).unwrap()).unwrap();
    let files = dvc_pipeline::publish::publish(&fixture.with_fallback, &store, false, 4).await.unwrap();
    assert!(files >= 7, "set.json and two files per member and the fallback: {files}");
    let again = dvc_pipeline::publish::publish(&fixture.with_fallback, &store, false, 4).await;
    assert!(again.unwrap_err().to_string().contains("already published"));

    let service = common::start_with(&[
        ("MODEL_URI", "s3://models/fleet/1/"),
        ("MODEL_PATH", "/nonexistent"),
        ("AWS_ENDPOINT_URL", s3.as_str()),
        ("AWS_ACCESS_KEY_ID", common::S3_ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", common::S3_SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
    ])
    .await;
    let info: serde_json::Value =
        service.client.get(format!("{}/model", service.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["set"]["group_by"], "machine", "{info}");
    let m01: Vec<_> = fixture.test.iter().filter(|(m, _)| m == "m01").take(40).cloned().collect();
    let m02: Vec<_> = fixture.test.iter().filter(|(m, _)| m == "m02").take(40).cloned().collect();
    let mixed: Vec<_> = m01.iter().zip(&m02).flat_map(|(a, b)| [a.clone(), b.clone()]).collect();
    let (status, body) = post(&service.client, &service.base, "text/csv", csv(&mixed)).await;
    assert_eq!(status, 200, "{body}");
    let got: Vec<f32> = body["scores"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap() as f32).collect();
    let expect_m01 = alone(&fixture.with_fallback, "groups/m01", &m01.iter().map(|r| r.1).collect::<Vec<_>>());
    let expect_m02 = alone(&fixture.with_fallback, "groups/m02", &m02.iter().map(|r| r.1).collect::<Vec<_>>());
    let expect: Vec<f32> = expect_m01.scores.iter().zip(&expect_m02.scores).flat_map(|(a, b)| [*a, *b]).collect();
    assert_eq!(got, expect);
    service.service.shutdown().await.unwrap();
}

async fn get_json(client: &reqwest::Client, base: &str, path: &str) -> (u16, serde_json::Value) {
    let response = client.get(format!("{base}{path}")).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Each machine's inputs are compared with its own model's training data: a sensor moved on one
/// machine reads as shifted for that machine only, `?group=` narrows to one machine, and the
/// live scores of all machines are relative to their own thresholds.
#[tokio::test]
async fn each_machine_of_a_set_drifts_against_its_own_training_data() {
    let fixture = set_fixture();
    let service = start(config_for(&fixture.without_fallback)).await;
    let (base, client) = (service.base.clone(), service.client.clone());
    let m01: Vec<_> = fixture.test.iter().filter(|(m, _)| m == "m01").take(200).cloned().collect();
    // m02's pressure sensor reads 40% high: out of its training range.
    let m02: Vec<_> = fixture
        .test
        .iter()
        .filter(|(m, _)| m == "m02")
        .take(200)
        .map(|(m, r)| {
            let mut r = *r;
            r[1] *= 1.4;
            (m.clone(), r)
        })
        .collect();
    let mixed: Vec<_> = m01.iter().zip(&m02).flat_map(|(a, b)| [a.clone(), b.clone()]).collect();
    let (status, scored) = post(&client, &base, "text/csv", csv(&mixed)).await;
    assert_eq!(status, 200, "{scored}");

    let (status, report) = get_json(&client, &base, "/drift").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["tracking"], true, "{report}");
    assert_eq!(report["rows"], 400);
    assert!(report["features"].as_array().unwrap().is_empty(), "a set's features are per group: {report}");
    let groups = report["groups"].as_array().unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g["group"].as_str().unwrap()).collect();
    assert_eq!(names, ["m01", "m02"], "the machines scored, in the set's order");
    let pressure = |g: &serde_json::Value| {
        g["features"].as_array().unwrap().iter().find(|f| f["name"] == "pressure").cloned().unwrap()
    };
    assert_eq!(pressure(&groups[1])["reading"], "shifted", "{report}");
    // 200 rows of a day's cycle are not all of the training data's range, but m01's sensor has
    // not moved: few of its values lie outside its own training range.
    let outside = |g: &serde_json::Value| pressure(g)["out_of_range"].as_f64().unwrap();
    assert!(outside(&groups[1]) > 0.5 && outside(&groups[0]) < 0.3, "{report}");
    assert!(pressure(&groups[1])["psi"].as_f64().unwrap() > 2.0 * pressure(&groups[0])["psi"].as_f64().unwrap());
    assert_eq!(groups[0]["rows"], 200);
    let m02_model = model_core::Model::load(&fixture.without_fallback.join("groups/m02")).unwrap();
    assert_eq!(groups[1]["model_version"], m02_model.meta.version.as_str());

    // One machine alone; a member that scored nothing yet shows its training distribution.
    let (status, one) = get_json(&client, &base, "/drift?group=m02").await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["groups"].as_array().unwrap().len(), 1);
    assert_eq!(one["groups"][0]["features"], groups[1]["features"]);
    let (status, idle) = get_json(&client, &base, "/drift?group=m03").await;
    assert_eq!(status, 200, "{idle}");
    assert_eq!(idle["groups"][0]["rows"], 0);
    assert_eq!(idle["groups"][0]["features"].as_array().unwrap().len(), FEATURES.len());
    let (status, unknown) = get_json(&client, &base, "/drift?group=pump%207").await;
    assert_eq!(status, 404, "{unknown}");
    let message = unknown["error"]["message"].as_str().unwrap();
    assert!(message.contains("\"pump 7\" is not a group") && message.contains("m01, m02, m03"), "{message}");

    // The live chart: every machine's scores relative to its own threshold, or one machine's own.
    let (_, recent) = get_json(&client, &base, "/scores/recent").await;
    assert_eq!(recent["relative"], true, "{recent}");
    assert_eq!(recent["threshold"], 1.0);
    assert_eq!(recent["rows"], 400);
    let (_, own) = get_json(&client, &base, "/scores/recent?group=m01").await;
    let threshold = scored["groups"][0]["threshold"].as_f64().unwrap();
    assert_eq!(own["threshold"].as_f64().unwrap(), threshold);
    assert!(own.get("relative").is_none(), "{own}");
    let got: Vec<f64> = own["batches"][0]["scores"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap()).collect();
    let sent: Vec<f64> = scored["scores"].as_array().unwrap().iter().step_by(2).map(|s| s.as_f64().unwrap()).collect();
    assert_eq!(got, sent, "m01's rows as /compute scored them");
    let relative = recent["batches"].as_array().unwrap().iter().flat_map(|b| b["scores"].as_array().unwrap().clone());
    let above = relative.filter(|s| s.as_f64().unwrap() > 1.0).count();
    assert_eq!(above, scored["anomalies"].as_array().unwrap().len(), "relative scores above 1 are the anomalies");

    // The metrics carry each machine's drift.
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("model_serving_drift_psi{feature=\"pressure\",group=\"m02\"}"), "{metrics}");
    assert!(metrics.contains("model_serving_drift_window_rows 400"), "{metrics}");
    service.service.shutdown().await.unwrap();
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

/// Waits until the shadow model scored `jobs` inputs and returns the metrics then.
async fn shadow_metrics(service: &common::Running, jobs: f64) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = service.client.get(format!("{}/metrics", service.base)).send().await.unwrap().text().await.unwrap();
        if metric(&text, "model_serving_shadow_jobs_total{outcome=\"scored\"}") >= jobs {
            return text;
        }
        assert!(std::time::Instant::now() < deadline, "the shadow model did not score the inputs: {text}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A shadow model beside a served set sees the rows routed as the set routed them: a shadow set
/// scores each machine with its own member, a shadow single model each machine's rows apart.
#[tokio::test(flavor = "multi_thread")]
async fn a_shadow_model_beside_a_served_set_scores_the_rows_routed_by_machine() {
    use model_registry::{PublishInfo, Registry};
    let fixture = set_fixture();
    let root = tempfile::tempdir().unwrap();
    let registry = Registry::from_store(object_storage::Store::local(root.path()));
    let info = || PublishInfo {
        published_by: "shadow set test".into(),
        git_commit: None,
        metrics: None,
        metrics_data: None,
        dvc_lock_md5: None,
    };
    let champion = registry.publish("fleet", &fixture.with_fallback, info()).await.unwrap().version;
    registry.set_alias("fleet", "champion", &champion, "test").await.unwrap();
    // The same members without the fallback: every machine here has one, so the same flags.
    let same = registry.publish("fleet", &fixture.without_fallback, info()).await.unwrap().version;
    registry.set_alias("fleet", "same", &same, "test").await.unwrap();
    // One model trained on every machine's rows.
    let single = registry.publish("fleet", &fixture.with_fallback.join("fallback"), info()).await.unwrap().version;
    registry.set_alias("fleet", "single", &single, "test").await.unwrap();

    let m01: Vec<_> = fixture.test.iter().filter(|(m, _)| m == "m01").take(120).cloned().collect();
    let m03: Vec<_> = fixture.test.iter().filter(|(m, _)| m == "m03").take(120).cloned().collect();
    let mixed: Vec<_> = m01.iter().zip(&m03).flat_map(|(a, b)| [a.clone(), b.clone()]).collect();
    let registry_root = root.path().display().to_string();
    for (alias, rounds) in [("@same", 3.0), ("@single", 1.0)] {
        let service = common::start_with(&[
            ("MODEL_REGISTRY", registry_root.as_str()),
            ("MODEL_NAME", "fleet"),
            ("MODEL_PATH", "/nonexistent"),
            ("MODEL_REFRESH_INTERVAL", "0"),
            ("SHADOW_MODEL_URI", alias),
            ("SHADOW_QUEUE", "16"),
        ])
        .await;
        let mut served_anomalies = 0.0;
        for _ in 0..rounds as usize {
            let (status, body) = post(&service.client, &service.base, "text/csv", csv(&mixed)).await;
            assert_eq!(status, 200, "{body}");
            served_anomalies += body["anomaly_count"].as_f64().unwrap();
        }
        let text = shadow_metrics(&service, rounds).await;
        let n = mixed.len() as f64 * rounds;
        assert_eq!(metric(&text, "model_serving_shadow_rows_scored_total"), n, "{alias}: {text}");
        assert_eq!(metric(&text, "model_serving_shadow_jobs_total{outcome=\"error\"}"), 0.0, "{alias}: {text}");
        let cell = |served: &str, shadow: &str| {
            metric(&text, &format!("model_serving_shadow_flags_total{{served=\"{served}\",shadow=\"{shadow}\"}}"))
        };
        let shadow_anomalies = metric(&text, "model_serving_shadow_anomalies_flagged_total");
        if alias == "@same" {
            // Each machine scored by the same member on both sides: the same flags and scores.
            assert_eq!((cell("anomalous", "anomalous"), cell("anomalous", "normal")), (served_anomalies, 0.0));
            assert_eq!(cell("normal", "anomalous"), 0.0, "{text}");
            assert!(metric(&text, "model_serving_shadow_score_correlation") > 0.999, "{text}");
        } else {
            // The one model scores each machine's rows as if they came alone.
            let fallback = |rows: &[(String, [f64; 6])]| {
                alone(&fixture.with_fallback, "fallback", &rows.iter().map(|r| r.1).collect::<Vec<_>>()).anomalies.len()
            };
            assert_eq!(shadow_anomalies, (fallback(&m01) + fallback(&m03)) as f64, "{text}");
            assert_eq!(cell("anomalous", "anomalous") + cell("anomalous", "normal"), served_anomalies, "{text}");
            assert!(metric(&text, "model_serving_shadow_score_correlation") > 0.0, "{text}");
        }
        service.service.shutdown().await.unwrap();
    }
}
