//! Training an Isolation Forest model: the baseline that `evaluate --baseline iforest` and
//! `benchmark` report beside the autoencoder, and a servable model of its own
//! (`train --kind iforest`) for data where it wins.
//!
//! It shares the autoencoder's data handling: the same held-out tail (the forest is fitted on
//! the rows before it, the threshold is calibrated on it), the same scaler and windows, and the
//! model file and scoring path of every other model. With `data.window: 0` it scores row by row,
//! as scikit-learn's IsolationForest does.

use isolation_forest::{IsolationForest, IsolationForestConfig};
use model_core::features::{FeatureSpec, Window};
use model_core::{Architecture, Frame, Model, ModelKind, ModelMetadata, Scoring, Threshold, TrainingInfo};

use super::{DataInfo, TrainError, calibrate_and_name, fit_scaler, hold_out_tail};
use crate::params::Params;

/// The forest's window: explicit `data.window`, else row by row.
pub fn forest_window(params: &Params) -> Window {
    Window { length: params.data.window.max(1), stride: params.data.stride.max(1) }
}

/// Fits an Isolation Forest on `frame` (columns = features, in order) as `params` say
/// (`forest` section; `train.seed`, `train.validation_split`, `score.smoothing`, `threshold`).
pub fn train_forest(frame: &Frame, data: DataInfo, params: &Params, source: &str) -> Result<Model, TrainError> {
    params.validate().map_err(TrainError::Params)?;
    let window = forest_window(params);
    let (train_frame, val_frame) = hold_out_tail(frame, window, params.train.validation_split, source)?;
    let spec = FeatureSpec { features: frame.columns.clone(), window, scaler: fit_scaler(params, &train_frame) };
    let inputs = spec.inputs(&train_frame, source, window.stride)?;
    let config = IsolationForestConfig {
        n_estimators: params.forest.n_estimators,
        max_samples: params.forest.max_samples,
        seed: params.train.seed,
    };
    let forest = IsolationForest::fit(&inputs.values, inputs.n, inputs.dim, &config)
        .map_err(|e| TrainError::Params(format!("isolation forest: {e}")))?;
    let method = params.threshold_method().map_err(TrainError::Params)?;
    let meta = ModelMetadata {
        format_version: model_core::artifact::FORMAT_VERSION,
        kind: ModelKind::IsolationForest,
        name: params.model.name.clone(),
        version: params.model.version.clone(),
        created_by: format!("model_creation {}", env!("CARGO_PKG_VERSION")),
        features: spec.features.clone(),
        ignored_columns: data.ignored_columns,
        window,
        point_aggregation: params.data.aggregation,
        architecture: Architecture::new(inputs.dim, Vec::new()),
        scaler: spec.scaler.clone(),
        scoring: Scoring { error_scale: Vec::new(), smoothing: params.score.smoothing },
        threshold: Threshold { value: 0.0, method, calibration_scores: 0 },
        // All the rows it was given, held-out tail included: the data it was made for.
        reference: model_core::drift::reference(frame),
        training: TrainingInfo {
            data_md5: data.md5,
            data_rows: frame.n_rows,
            params: serde_json::to_value(params).map_err(|e| TrainError::Params(e.to_string()))?,
            backend: "isolation_forest".into(),
            epochs_run: 0,
            best_epoch: 0,
            final_train_loss: 0.0,
            final_val_loss: 0.0,
            train_loss: Vec::new(),
            val_loss: Vec::new(),
        },
        weights_md5: String::new(),
    };
    let mut model = Model::from_forest(meta, forest)?;
    calibrate_and_name(&mut model, method, val_frame.as_ref().unwrap_or(&train_frame), source)?;
    Ok(model)
}

/// The baseline beside a model: the reference algorithm as scikit-learn runs it (row by row, no
/// smoothing, default forest), on the same training rows, seed and threshold rule.
pub fn baseline_params(params: &Params) -> Params {
    let mut p = params.clone();
    p.data.window = 0;
    p.data.stride = 1;
    p.score.smoothing = 1;
    p.forest = Default::default();
    p
}
