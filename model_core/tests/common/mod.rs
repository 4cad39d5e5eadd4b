//! Test helpers shared by model_core's integration tests (included with `mod common;`).
#![allow(dead_code)]

use model_core::features::{PointAggregation, Scaler, Window};
use model_core::threshold::{Threshold, ThresholdMethod};
use model_core::{Architecture, Model, ModelMetadata, TrainingInfo};

/// A small model with deterministic pseudo-random weights (no training needed for format tests).
pub fn toy_model(features: &[&str], window: usize, hidden: Vec<usize>) -> Model {
    let d = features.len();
    let arch = Architecture::new(d * window, hidden);
    let mut state = 12345u64;
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
        version: "1".into(),
        created_by: "test".into(),
        features: features.iter().map(|s| s.to_string()).collect(),
        ignored_columns: vec![],
        window: Window { length: window, stride: 1 },
        point_aggregation: PointAggregation::Max,
        architecture: arch,
        scaler: Scaler { mean: vec![1.0; d], std: vec![2.0; d] },
        scoring: model_core::Scoring::default(),
        threshold: Threshold { value: 0.5, method: ThresholdMethod::Quantile { q: 0.99 }, calibration_scores: 10 },
        reference: Vec::new(),
        training: TrainingInfo {
            data_md5: "0".repeat(32),
            data_rows: 10,
            params: serde_json::json!({}),
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
    match Model::from_parts(meta, weights) {
        Ok(m) => m,
        Err(e) => panic!("toy model is consistent: {e}"),
    }
}
