//! Shared by the registry tests: small real models (saved by model_core, so they load and
//! score) and registries on a local directory and on the in-process S3 server.
#![allow(dead_code)]

use std::path::Path;

use model_core::features::{PointAggregation, Scaler, Window};
use model_core::threshold::{Threshold, ThresholdMethod};
use model_core::{Architecture, Model, ModelMetadata, TrainingInfo};
use model_registry::{PublishInfo, Registry};
use object_storage::{AwsEnv, S3Options, S3Settings, Store};

/// Saves a small model with pseudo-random weights from `seed` (different seeds, different
/// weights) into `dir`.
pub fn save_model(dir: &Path, seed: u64) {
    let features = ["a", "b", "c"];
    let arch = Architecture::new(features.len(), vec![2]);
    let mut state = seed.wrapping_add(12345);
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let weights = arch
        .layer_dims()
        .iter()
        .map(|(i, o)| ((0..i * o).map(|_| next()).collect(), (0..*o).map(|_| next() * 0.1).collect()))
        .collect();
    let meta = ModelMetadata {
        format_version: model_core::artifact::FORMAT_VERSION,
        kind: model_core::ModelKind::Autoencoder,
        name: "toy".into(),
        version: format!("seed{seed}"),
        created_by: "model_registry tests".into(),
        features: features.iter().map(|s| s.to_string()).collect(),
        ignored_columns: vec![],
        window: Window { length: 1, stride: 1 },
        point_aggregation: PointAggregation::Max,
        architecture: arch,
        scaler: Scaler { mean: vec![0.0; 3], std: vec![1.0; 3] },
        scoring: model_core::Scoring::default(),
        threshold: Threshold { value: 0.5, method: ThresholdMethod::Quantile { q: 0.99 }, calibration_scores: 10 },
        reference: Vec::new(),
        training: TrainingInfo {
            data_md5: "d41d8cd98f00b204e9800998ecf8427e".into(),
            data_rows: 10,
            params: serde_json::json!({"train": {"epochs": 1, "seed": seed}}),
            backend: "flex".into(),
            epochs_run: 1,
            best_epoch: 1,
            final_train_loss: 1.0,
            final_val_loss: 1.0,
            train_loss: vec![1.0],
            val_loss: vec![1.0],
        },
        weights_md5: String::new(),
    };
    let mut model = Model::from_parts(meta, weights).unwrap();
    model.save(dir).unwrap();
}

pub fn info(by: &str) -> PublishInfo {
    PublishInfo { published_by: by.into(), git_commit: Some("abc123".into()), ..PublishInfo::default() }
}

/// A registry on the in-process S3 server (bucket `models`, prefix `registry`); the
/// returned directory holds the server's files (`<dir>/models/registry/...`).
pub async fn s3_registry() -> (Registry, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("models")).unwrap();
    let endpoint = s3_test_server::start(root.path()).await;
    let settings = S3Settings {
        endpoint_url: Some(endpoint),
        access_key_id: Some(s3_test_server::ACCESS_KEY.into()),
        secret_access_key: Some(s3_test_server::SECRET_KEY.into()),
        ..S3Settings::default()
    };
    let opts = S3Options::resolve("s3://models/registry", &settings, &AwsEnv::default()).unwrap();
    (Registry::from_store(Store::s3(opts).unwrap()), root)
}
