//! MODEL_URI: the service loads a published model from an S3 prefix (in-process S3 server with
//! signature checks), and says what is wrong when it cannot.

mod common;

use std::collections::HashMap;

use common::{S3_ACCESS_KEY, S3_SECRET_KEY, create_bucket, csv_body, fixture, load_model, put_object, start, start_s3};
use model_core::artifact::{METADATA_FILE, WEIGHTS_FILE};
use model_serving::config::Config;

fn vars(s3: &str, uri: &str, secret: &str) -> HashMap<String, String> {
    [
        ("MODEL_URI", uri),
        ("MODEL_PATH", "/does/not/matter"),
        ("AWS_ENDPOINT_URL", s3),
        ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_REGION", "us-east-1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_published_under_an_s3_prefix_serves_the_same_scores() {
    let root = tempfile::tempdir().unwrap();
    let s3 = start_s3(root.path()).await;
    create_bucket(&s3, "models").await;
    let dir = &fixture().model_dir;
    for file in [METADATA_FILE, WEIGHTS_FILE] {
        put_object(&s3, "models", &format!("ae/v1/{file}"), std::fs::read(dir.join(file)).unwrap()).await;
    }

    let config = Config::from_vars(&vars(&s3, "s3://models/ae/v1/", S3_SECRET_KEY)).unwrap();
    let r = start(config).await;
    let model: serde_json::Value =
        r.client.get(format!("{}/model", r.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(model["source"], "s3://models/ae/v1/");

    let csv = csv_body(&fixture().test_rows[..100]);
    let resp = r.client.post(format!("{}/compute", r.base)).header("content-type", "text/csv").body(csv.clone());
    let body: serde_json::Value = resp.send().await.unwrap().json().await.unwrap();
    let (_, expected) = load_model().score_csv(csv.as_bytes(), "x").unwrap();
    let scores: Vec<f32> = serde_json::from_value(body["scores"].clone()).unwrap();
    assert_eq!(scores, expected.scores);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_prefix_or_secret_fails_start_up_with_a_clear_message() {
    let root = tempfile::tempdir().unwrap();
    let s3 = start_s3(root.path()).await;
    create_bucket(&s3, "models").await;
    let dir = &fixture().model_dir;
    for file in [METADATA_FILE, WEIGHTS_FILE] {
        put_object(&s3, "models", &format!("ae/v1/{file}"), std::fs::read(dir.join(file)).unwrap()).await;
    }
    let start_err = |vars: HashMap<String, String>| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = Config::from_vars(&vars).unwrap();
        // As main prints it: the message and each cause once.
        format!("{:#}", anyhow::Error::from(model_serving::start(config, listener).await.err().unwrap()))
    };

    let message = start_err(vars(&s3, "s3://models/ae/v2/", S3_SECRET_KEY)).await;
    assert!(message.starts_with("MODEL_URI=s3://models/ae/v2/"), "{message}");
    assert!(message.contains("not found"), "{message}");

    let message = start_err(vars(&s3, "s3://models/ae/v1/", "wrong-secret")).await;
    assert!(message.contains("rejected the credentials"), "{message}");

    let mut no_keys = vars(&s3, "s3://models/ae/v1/", S3_SECRET_KEY);
    no_keys.remove("AWS_SECRET_ACCESS_KEY");
    let message = start_err(no_keys).await;
    assert!(message.contains("AWS_SECRET_ACCESS_KEY"), "{message}");
}
