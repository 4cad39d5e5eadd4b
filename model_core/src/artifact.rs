//! The model directory: `weights.safetensors` plus `metadata.json`, self-describing and versioned.
//!
//! Loading checks everything (format version, files present, weights md5, tensor shapes against
//! the architecture, scaler and feature counts) and says exactly what is wrong. Saving writes a
//! sibling temporary directory and swaps it in, so a crash never leaves a half-written model.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use atomic_file::{AtomicDir, Durability};
use serde::{Deserialize, Serialize};

use crate::arch::Architecture;
use crate::error::ArtifactError;
use crate::features::{PointAggregation, Scaler, Window};
use crate::forward::{LayerWeights, LeanNetwork};
use crate::scoring::Scoring;
use crate::threshold::Threshold;
use isolation_forest::{ForestArrays, IsolationForest};

/// The format this build writes. 2 added [`Scoring`] (per-feature error scale, smoothing): a
/// build that knows only format 1 would ignore it and score such a model wrongly, so it refuses
/// the model instead.
pub const FORMAT_VERSION: u32 = 2;
/// Oldest format this build reads: a format-1 model has no `scoring` and scores as it always did.
pub const OLDEST_FORMAT_VERSION: u32 = 1;
pub const METADATA_FILE: &str = "metadata.json";
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// What training recorded about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// md5 of the training CSV's bytes.
    pub data_md5: String,
    pub data_rows: usize,
    /// The training parameters in effect (params.yaml `train` section after defaults).
    pub params: serde_json::Value,
    /// burn backend used ("flex" or "ndarray").
    pub backend: String,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub final_train_loss: f64,
    pub final_val_loss: f64,
    pub train_loss: Vec<f64>,
    pub val_loss: Vec<f64>,
}

/// What kind of detector the weights file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// The dense autoencoder of `architecture`: the score is its reconstruction error.
    #[default]
    Autoencoder,
    /// An Isolation Forest (scikit-learn's algorithm): the score is `2^(-mean path / c(psi))`,
    /// about 0.5 for typical rows and towards 1 for isolated ones. `architecture.hidden` is
    /// empty and `scoring.error_scale` too: there is no reconstruction to compare per feature.
    IsolationForest,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Autoencoder => "autoencoder",
            ModelKind::IsolationForest => "isolation_forest",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub format_version: u32,
    /// Format 2; format 1 models are all autoencoders.
    #[serde(default)]
    pub kind: ModelKind,
    pub name: String,
    pub version: String,
    /// The program and crate version that wrote the model, e.g. "model_creation 0.1.0".
    pub created_by: String,
    pub features: Vec<String>,
    /// Columns the trainer skipped (timestamps, labels); informative only.
    pub ignored_columns: Vec<String>,
    pub window: Window,
    pub point_aggregation: PointAggregation,
    pub architecture: Architecture,
    pub scaler: Scaler,
    /// How errors become scores (format 2); absent in format 1, which is plain mean squared error.
    #[serde(default)]
    pub scoring: Scoring,
    pub threshold: Threshold,
    /// Each feature's training distribution, for drift tracking; absent in models trained
    /// before it existed, which then report no drift.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference: Vec<crate::drift::FeatureReference>,
    pub training: TrainingInfo,
    /// md5 of weights.safetensors, checked on load.
    pub weights_md5: String,
}

/// A loaded, checked model ready to score.
#[derive(Debug, Clone)]
pub struct Model {
    pub meta: ModelMetadata,
    pub detector: Detector,
}

/// The scoring machinery of a model, by [`ModelKind`].
#[derive(Debug, Clone)]
pub enum Detector {
    Autoencoder(LeanNetwork),
    IsolationForest(IsolationForest),
}

/// Tensor names of a forest in `weights.safetensors`.
const FOREST_TENSORS: [&str; 7] = [
    "forest.feature",
    "forest.threshold",
    "forest.left",
    "forest.right",
    "forest.samples",
    "forest.tree_offsets",
    "forest.psi",
];

impl Model {
    /// The autoencoder's network; `None` for other kinds.
    pub fn network(&self) -> Option<&LeanNetwork> {
        match &self.detector {
            Detector::Autoencoder(n) => Some(n),
            Detector::IsolationForest(_) => None,
        }
    }

    /// Builds an Isolation Forest model (`meta.kind` must say so; its architecture has the input
    /// width and no hidden layers).
    pub fn from_forest(meta: ModelMetadata, forest: IsolationForest) -> Result<Model, ArtifactError> {
        let path = PathBuf::from("<in memory>");
        check_consistency(&meta, &path)?;
        if meta.kind != ModelKind::IsolationForest || forest.n_features() != meta.architecture.input {
            return Err(ArtifactError::Inconsistent {
                path,
                message: format!(
                    "an isolation forest over {} input(s) for a {} model of input width {}",
                    forest.n_features(),
                    meta.kind.name(),
                    meta.architecture.input
                ),
            });
        }
        Ok(Model { detector: Detector::IsolationForest(forest), meta })
    }

    /// Builds a model from trained weights (`(W [d_in*d_out], b [d_out])` per layer).
    /// `meta.weights_md5` is filled in by [`Model::save`].
    pub fn from_parts(meta: ModelMetadata, weights: Vec<LayerWeights>) -> Result<Model, ArtifactError> {
        let path = PathBuf::from("<in memory>");
        check_consistency(&meta, &path)?;
        for (i, ((d_in, d_out), (w, b))) in meta.architecture.layer_dims().iter().zip(&weights).enumerate() {
            if w.len() != d_in * d_out || b.len() != *d_out {
                return Err(ArtifactError::ShapeMismatch {
                    path,
                    tensor: Architecture::weight_name(i),
                    expected: vec![*d_in, *d_out],
                    found: vec![w.len()],
                });
            }
        }
        if meta.kind != ModelKind::Autoencoder {
            return Err(ArtifactError::Inconsistent {
                path,
                message: format!("autoencoder weights for a {} model", meta.kind.name()),
            });
        }
        Ok(Model { detector: Detector::Autoencoder(LeanNetwork::new(&meta.architecture, weights)), meta })
    }

    pub fn load(dir: &Path) -> Result<Model, ArtifactError> {
        let meta_path = dir.join(METADATA_FILE);
        let weights_path = dir.join(WEIGHTS_FILE);
        let meta_bytes = read_required(dir, &meta_path, METADATA_FILE)?;
        let weights_bytes = read_required(dir, &weights_path, WEIGHTS_FILE)?;
        Model::from_bytes(&meta_bytes, &weights_bytes, dir)
    }

    /// Loads from the two files' contents (serving fetches them from object storage).
    pub fn from_bytes(meta_bytes: &[u8], weights_bytes: &[u8], dir: &Path) -> Result<Model, ArtifactError> {
        let meta_path = dir.join(METADATA_FILE);
        let weights_path = dir.join(WEIGHTS_FILE);
        let meta = parse_metadata(meta_bytes, &meta_path)?;
        check_consistency(&meta, &meta_path)?;
        let md5 = md5_hex(weights_bytes);
        if md5 != meta.weights_md5 {
            return Err(ArtifactError::CorruptWeights {
                path: weights_path,
                message: format!(
                    "md5 is {md5}, metadata.json records {}; the file was changed or truncated",
                    meta.weights_md5
                ),
            });
        }
        let detector = match meta.kind {
            ModelKind::Autoencoder => Detector::Autoencoder(LeanNetwork::new(
                &meta.architecture,
                read_weights(weights_bytes, &meta.architecture, &weights_path)?,
            )),
            ModelKind::IsolationForest => {
                Detector::IsolationForest(read_forest(weights_bytes, meta.architecture.input, &weights_path)?)
            }
        };
        Ok(Model { detector, meta })
    }

    /// The serialized weights and metadata, with `weights_md5` filled in.
    pub fn to_bytes(&self) -> Result<(Vec<u8>, Vec<u8>), ArtifactError> {
        let weights = match &self.detector {
            Detector::Autoencoder(network) => serialize_weights(network, Path::new(WEIGHTS_FILE))?,
            Detector::IsolationForest(forest) => serialize_forest(forest, Path::new(WEIGHTS_FILE))?,
        };
        let mut meta = self.meta.clone();
        meta.weights_md5 = md5_hex(&weights);
        let meta_json = serde_json::to_vec_pretty(&meta)
            .map_err(|e| ArtifactError::BadMetadata { path: PathBuf::from(METADATA_FILE), message: e.to_string() })?;
        Ok((meta_json, weights))
    }

    /// Writes the model directory atomically: a sibling temporary directory is filled (each file
    /// flushed to the disk) and swapped in; an existing model is replaced only once the new one
    /// is complete.
    pub fn save(&mut self, dir: &Path) -> Result<(), ArtifactError> {
        let (meta_json, weights) = self.to_bytes()?;
        self.meta.weights_md5 = md5_hex(&weights);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ArtifactError::Io { path, source }
        };
        let new = AtomicDir::create(dir).map_err(io(dir))?;
        for (file, bytes) in [(WEIGHTS_FILE, &weights), (METADATA_FILE, &meta_json)] {
            let path = new.path().join(file);
            atomic_file::write(&path, bytes, Durability::Durable).map_err(io(&dir.join(file)))?;
        }
        new.commit().map_err(io(dir))
    }
}

fn read_required(dir: &Path, path: &Path, file: &'static str) -> Result<Vec<u8>, ArtifactError> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ArtifactError::MissingFile { dir: dir.to_path_buf(), file })
        }
        Err(source) => Err(ArtifactError::Io { path: path.to_path_buf(), source }),
    }
}

fn parse_metadata(bytes: &[u8], path: &Path) -> Result<ModelMetadata, ArtifactError> {
    parse_versioned(bytes, path, "format_version", OLDEST_FORMAT_VERSION, FORMAT_VERSION)
}

/// Parses a versioned JSON file (a model's metadata, a set's manifest): its integer `field` is
/// checked to lie in `oldest..=supported` before the shape, so a newer file gets a version
/// message, not a confusing missing-field one.
pub(crate) fn parse_versioned<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    path: &Path,
    field: &str,
    oldest: u32,
    supported: u32,
) -> Result<T, ArtifactError> {
    let bad = |message: String| ArtifactError::BadMetadata { path: path.to_path_buf(), message };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let found = value.get(field).and_then(|v| v.as_u64()).ok_or_else(|| bad(format!("no integer {field:?} field")))?;
    if !(u64::from(oldest)..=u64::from(supported)).contains(&found) {
        return Err(ArtifactError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
            oldest,
            supported,
        });
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

fn check_consistency(meta: &ModelMetadata, path: &Path) -> Result<(), ArtifactError> {
    let bad = |message: String| Err(ArtifactError::Inconsistent { path: path.to_path_buf(), message });
    let d = meta.features.len();
    if d == 0 {
        return bad("\"features\" is empty".into());
    }
    if meta.window.length == 0 || meta.window.stride == 0 {
        return bad("window length and stride must be at least 1".into());
    }
    if meta.architecture.input != d * meta.window.length {
        return bad(format!(
            "architecture input is {} but {} feature(s) x window {} = {}",
            meta.architecture.input,
            d,
            meta.window.length,
            d * meta.window.length
        ));
    }
    if meta.architecture.hidden.contains(&0) {
        return bad("a hidden layer has width 0".into());
    }
    if meta.kind == ModelKind::IsolationForest && !meta.architecture.hidden.is_empty() {
        return bad("an isolation_forest model has no hidden layers".into());
    }
    if meta.kind == ModelKind::IsolationForest && !meta.scoring.error_scale.is_empty() {
        return bad("an isolation_forest model has no per-feature error scale".into());
    }
    if !meta.reference.is_empty() && meta.reference.len() != d {
        return bad(format!("reference has {} feature distribution(s) for {} feature(s)", meta.reference.len(), d));
    }
    if let Some(j) = meta.reference.iter().position(|r| !r.is_valid()) {
        return bad(format!(
            "reference of feature {:?} is not {} ascending finite decile edges and {} shares",
            meta.features[j],
            crate::drift::DRIFT_BINS - 1,
            crate::drift::DRIFT_BINS
        ));
    }
    if meta.scaler.mean.len() != d || meta.scaler.std.len() != d {
        return bad(format!(
            "scaler has {} mean(s) and {} std(s) for {} feature(s)",
            meta.scaler.mean.len(),
            meta.scaler.std.len(),
            d
        ));
    }
    let scaler = meta.features.iter().zip(&meta.scaler.mean).zip(&meta.scaler.std);
    if let Some(((feature, mean), std)) =
        scaler.into_iter().find(|((_, m), s)| !m.is_finite() || !s.is_finite() || **s <= 0.0)
    {
        return bad(format!(
            "scaler statistics of feature {feature:?} are mean {mean}, std {std}; they must be finite, with a \
             positive std (retrain on data whose {feature:?} column has finite values)"
        ));
    }
    let scoring = &meta.scoring;
    if !scoring.error_scale.is_empty() && scoring.error_scale.len() != d {
        return bad(format!("scoring.error_scale has {} value(s) for {} feature(s)", scoring.error_scale.len(), d));
    }
    if let Some((feature, e)) =
        meta.features.iter().zip(&scoring.error_scale).find(|(_, e)| !e.is_finite() || **e <= 0.0)
    {
        return bad(format!("scoring.error_scale of feature {feature:?} is {e}; it must be a positive finite number"));
    }
    if scoring.smoothing == 0 {
        return bad("scoring.smoothing must be at least 1 (1 = no smoothing)".into());
    }
    if !meta.threshold.value.is_finite() {
        return bad("threshold is not a finite number".into());
    }
    Ok(())
}

fn read_weights(bytes: &[u8], arch: &Architecture, path: &Path) -> Result<Vec<LayerWeights>, ArtifactError> {
    let corrupt = |message: String| ArtifactError::CorruptWeights { path: path.to_path_buf(), message };
    let tensors = safetensors::SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
    let get = |name: String, expected: Vec<usize>| -> Result<Vec<f32>, ArtifactError> {
        let view = tensors.tensor(&name).map_err(|_| corrupt(format!("tensor {name:?} is missing")))?;
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(corrupt(format!("tensor {name:?} is {:?}, expected F32", view.dtype())));
        }
        if view.shape() != expected.as_slice() {
            return Err(ArtifactError::ShapeMismatch {
                path: path.to_path_buf(),
                tensor: name,
                expected,
                found: view.shape().to_vec(),
            });
        }
        Ok(view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    };
    arch.layer_dims()
        .into_iter()
        .enumerate()
        .map(|(i, (d_in, d_out))| {
            Ok((get(Architecture::weight_name(i), vec![d_in, d_out])?, get(Architecture::bias_name(i), vec![d_out])?))
        })
        .collect()
}

fn serialize_weights(network: &LeanNetwork, path: &Path) -> Result<Vec<u8>, ArtifactError> {
    let to_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (i, layer) in network.layers().iter().enumerate() {
        buffers.push((Architecture::weight_name(i), vec![layer.d_in, layer.d_out], to_bytes(&layer.weight)));
        buffers.push((Architecture::bias_name(i), vec![layer.d_out], to_bytes(&layer.bias)));
    }
    let mut views = HashMap::new();
    for (name, shape, data) in &buffers {
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
            .map_err(|e| ArtifactError::CorruptWeights { path: path.to_path_buf(), message: e.to_string() })?;
        views.insert(name.clone(), view);
    }
    safetensors::serialize(views, &None)
        .map_err(|e| ArtifactError::CorruptWeights { path: path.to_path_buf(), message: e.to_string() })
}

/// Safetensors of the forest's arrays: i32 tensors, f32 thresholds, `forest.psi` of shape [1].
fn serialize_forest(forest: &IsolationForest, path: &Path) -> Result<Vec<u8>, ArtifactError> {
    let a = forest.to_arrays();
    let ints = |v: &[i32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let buffers: Vec<(&str, safetensors::Dtype, usize, Vec<u8>)> = vec![
        (FOREST_TENSORS[0], safetensors::Dtype::I32, a.feature.len(), ints(&a.feature)),
        (
            FOREST_TENSORS[1],
            safetensors::Dtype::F32,
            a.threshold.len(),
            a.threshold.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        (FOREST_TENSORS[2], safetensors::Dtype::I32, a.left.len(), ints(&a.left)),
        (FOREST_TENSORS[3], safetensors::Dtype::I32, a.right.len(), ints(&a.right)),
        (FOREST_TENSORS[4], safetensors::Dtype::I32, a.samples.len(), ints(&a.samples)),
        (FOREST_TENSORS[5], safetensors::Dtype::I32, a.tree_offsets.len(), ints(&a.tree_offsets)),
        (FOREST_TENSORS[6], safetensors::Dtype::I32, 1, ints(&[a.psi])),
    ];
    let corrupt = |e: safetensors::SafeTensorError| ArtifactError::CorruptWeights {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut views = HashMap::new();
    for (name, dtype, len, data) in &buffers {
        views
            .insert(name.to_string(), safetensors::tensor::TensorView::new(*dtype, vec![*len], data).map_err(corrupt)?);
    }
    safetensors::serialize(views, &None).map_err(corrupt)
}

/// The forest in `bytes`, checked tensor by tensor and then by the forest's own validation.
fn read_forest(bytes: &[u8], n_features: usize, path: &Path) -> Result<IsolationForest, ArtifactError> {
    let corrupt = |message: String| ArtifactError::CorruptWeights { path: path.to_path_buf(), message };
    let tensors = safetensors::SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
    let raw = |name: &str, dtype: safetensors::Dtype| -> Result<Vec<[u8; 4]>, ArtifactError> {
        let view = tensors.tensor(name).map_err(|_| corrupt(format!("tensor {name:?} is missing")))?;
        if view.dtype() != dtype || view.shape().len() != 1 {
            return Err(corrupt(format!(
                "tensor {name:?} is {:?} of shape {:?}, expected a 1-D {dtype:?} tensor",
                view.dtype(),
                view.shape()
            )));
        }
        Ok(view.data().chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect())
    };
    let ints = |name: &str| -> Result<Vec<i32>, ArtifactError> {
        Ok(raw(name, safetensors::Dtype::I32)?.into_iter().map(i32::from_le_bytes).collect())
    };
    let psi = ints(FOREST_TENSORS[6])?;
    let [psi] = psi.as_slice() else {
        return Err(corrupt(format!("tensor \"forest.psi\" has {} values, expected 1", psi.len())));
    };
    let arrays = ForestArrays {
        feature: ints(FOREST_TENSORS[0])?,
        threshold: raw(FOREST_TENSORS[1], safetensors::Dtype::F32)?.into_iter().map(f32::from_le_bytes).collect(),
        left: ints(FOREST_TENSORS[2])?,
        right: ints(FOREST_TENSORS[3])?,
        samples: ints(FOREST_TENSORS[4])?,
        tree_offsets: ints(FOREST_TENSORS[5])?,
        psi: *psi,
    };
    IsolationForest::from_arrays(arrays, n_features).map_err(|e| corrupt(e.to_string()))
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    format!("{:x}", md5::Md5::digest(bytes))
}
