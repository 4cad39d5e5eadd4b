//! Serving a model set (one model per machine, `data.group_by`): rows are routed by their group
//! column, a request may mix machines, an unknown machine is a 422 naming it unless the set has
//! a fallback model, and `/model` lists the members. Through the real HTTP stack.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{config_for, start};
use model_creation::commands::Kind;
use model_creation::params::Params;
use model_creation::simulate::{FEATURES, FleetOptions, generate_fleet, write_fleet};
use model_creation::train::groups::Selection;

struct SetFixture {
    /// The set with a fallback model.
    with_fallback: PathBuf,
    /// The same set without it.
    without_fallback: PathBuf,
    /// The fleet's test rows: (machine, row).
    test: Vec<(String, [f64; 6])>,
}

/// Three machines, one set trained once per test binary (3 epochs), plus a copy without the
/// fallback model.
fn set_fixture() -> &'static SetFixture {
    static FIXTURE: OnceLock<SetFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let fleet =
            generate_fleet(&FleetOptions { seed: 5, machines: 3, faulty: Some(3), train_rows: 600, test_rows: 200 });
        write_fleet(&dir.join("fleet"), &fleet, 600).unwrap();
        let mut params = Params::default();
        params.train.epochs = 3;
        params.data.group_by = Some("machine".into());
        params.data.group_fallback = true;
        let with_fallback = dir.join("set");
        model_creation::commands::train_groups(
            &dir.join("fleet/train.csv"),
            &with_fallback,
            &params,
            &dir.join("plots"),
            Kind::Autoencoder,
            &Selection::All,
        )
        .unwrap();
        let without_fallback = dir.join("set-no-fallback");
        copy_dir(&with_fallback, &without_fallback);
        std::fs::remove_dir_all(without_fallback.join("fallback")).unwrap();
        let manifest = without_fallback.join("set.json");
        let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        json["fallback"] = serde_json::Value::Null;
        std::fs::write(&manifest, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
        let test = fleet.iter().flat_map(|m| m.test.iter().map(|r| (m.name.clone(), *r))).collect();
        SetFixture { with_fallback, without_fallback, test }
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

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
