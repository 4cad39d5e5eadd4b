//! Training parameters: defaults that work on unseen data, overridable from a DVC-style
//! `params.yaml` (sections `data`, `model`, `train`, `score`, `forest`, `threshold`; other sections are left to
//! other stages). Unknown keys inside these sections are errors, so a typo never silently
//! falls back to a default.

use std::path::Path;

use model_core::{DEFAULT_IGNORED_COLUMNS, PointAggregation, ThresholdMethod};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Params {
    pub data: DataParams,
    pub model: ModelParams,
    pub train: TrainParams,
    pub score: ScoreParams,
    pub threshold: ThresholdParams,
    pub forest: ForestParams,
}

/// The Isolation Forest (`train --kind iforest` and the baseline): scikit-learn's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForestParams {
    /// Number of trees.
    pub n_estimators: usize,
    /// Rows each tree is grown from (at most the training rows).
    pub max_samples: usize,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams { n_estimators: 100, max_samples: 256 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataParams {
    /// Feature columns by name; empty means every column not in `ignore`.
    pub features: Vec<String>,
    /// Columns never used as features (compared case-insensitively).
    pub ignore: Vec<String>,
    /// Rows per model input. 0 = automatic: `univariate_window` for a single feature,
    /// `multivariate_window` for a table. 1 scores row by row.
    pub window: usize,
    /// Window length chosen automatically for a univariate series.
    pub univariate_window: usize,
    /// Window length chosen automatically for a multivariate table. A short temporal context
    /// (4 rows) measured better than row-by-row on both the simulated and real (SKAB) data:
    /// see the README's quality table.
    pub multivariate_window: usize,
    /// Step between training windows.
    pub stride: usize,
    /// How a row covered by several windows gets its score.
    pub aggregation: PointAggregation,
    /// How features are centred and scaled before the model sees them: "standard" (mean and
    /// standard deviation) or "robust" (median and interquartile range).
    pub scaling: Scaling,
    /// Train one model per value of this column (a machine, a site): a model set. The column is
    /// never a feature.
    pub group_by: Option<String>,
    /// Groups with fewer rows (or fewer than two windows) are reported and skipped.
    pub min_group_rows: usize,
    /// Also train a fallback model on every row, for groups the set has no model of.
    pub group_fallback: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    Standard,
    #[default]
    Robust,
}

/// How reconstruction errors become scores (stored in the model: every scoring path uses it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreParams {
    /// Divide each feature's squared error by its typical error on the held-out rows, so one
    /// noisy channel cannot dominate the score of a table.
    pub normalise: bool,
    /// Trailing mean over this many window scores; 1 = none.
    pub smoothing: usize,
}

impl Default for ScoreParams {
    fn default() -> Self {
        ScoreParams { normalise: true, smoothing: 1 }
    }
}

impl Default for DataParams {
    fn default() -> Self {
        DataParams {
            features: Vec::new(),
            ignore: DEFAULT_IGNORED_COLUMNS.iter().map(|s| s.to_string()).collect(),
            window: 0,
            univariate_window: 32,
            multivariate_window: 4,
            stride: 1,
            aggregation: PointAggregation::Mean,
            scaling: Scaling::Robust,
            group_by: None,
            min_group_rows: 100,
            group_fallback: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelParams {
    pub name: String,
    /// Model version; empty = derived from the weights' md5.
    pub version: String,
    /// Hidden layer widths, encoder then decoder.
    pub hidden: Vec<usize>,
}

impl Default for ModelParams {
    fn default() -> Self {
        ModelParams {
            name: "ae-anomaly-detection".into(),
            version: String::new(),
            hidden: model_core::arch::DEFAULT_HIDDEN.to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainParams {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    /// Fraction of rows, taken from the end of the series, held out for early stopping and
    /// threshold calibration.
    pub validation_split: f64,
    /// Epochs without validation improvement before training stops.
    pub patience: usize,
    /// "flex" (default) or "ndarray" (needs the `ndarray` cargo feature).
    pub backend: String,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 100,
            batch_size: 64,
            learning_rate: 1e-3,
            seed: 42,
            validation_split: 0.2,
            patience: 10,
            backend: "flex".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThresholdParams {
    /// "quantile", "mean_std" or "max".
    pub method: String,
    pub quantile: f64,
    pub k: f64,
    pub factor: f64,
}

impl Default for ThresholdParams {
    fn default() -> Self {
        ThresholdParams { method: "quantile".into(), quantile: 0.99, k: 3.0, factor: 1.0 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    #[error("{path}: cannot read")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// A `KEY=VALUE` override (`train --set`, `exp run -S`) that names no parameter or whose
    /// value does not fit.
    #[error("cannot set {key}: {message}")]
    Override { key: String, message: String },
}

impl Params {
    pub fn load(path: &Path) -> Result<Params, ParamsError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ParamsError::Io { path: p.clone(), source })?;
        Params::parse(&text, &p)
    }

    pub fn parse(text: &str, path: &str) -> Result<Params, ParamsError> {
        let invalid = |message: String| ParamsError::Invalid { path: path.to_string(), message };
        let params: Params = if text.trim().is_empty() {
            Params::default()
        } else {
            serde_norway::from_str(text).map_err(|e| invalid(e.to_string()))?
        };
        params.validate().map_err(invalid)?;
        Ok(params)
    }

    pub fn validate(&self) -> Result<(), String> {
        let t = &self.train;
        if t.epochs == 0 {
            return Err("train.epochs must be at least 1".into());
        }
        if t.batch_size == 0 {
            return Err("train.batch_size must be at least 1".into());
        }
        if !(t.learning_rate.is_finite() && t.learning_rate > 0.0) {
            return Err(format!("train.learning_rate must be a positive number, got {}", t.learning_rate));
        }
        if !(0.0..0.9).contains(&t.validation_split) {
            return Err(format!("train.validation_split must be in [0, 0.9), got {}", t.validation_split));
        }
        if self.model.hidden.is_empty() || self.model.hidden.contains(&0) {
            return Err("model.hidden must list at least one layer width, all above 0".into());
        }
        if self.forest.n_estimators == 0 || self.forest.max_samples == 0 {
            return Err("forest.n_estimators and forest.max_samples must be at least 1".into());
        }
        if self.score.smoothing == 0 {
            return Err("score.smoothing must be at least 1 (1 = no smoothing)".into());
        }
        if self.data.stride == 0 {
            return Err("data.stride must be at least 1".into());
        }
        if let Some(column) = &self.data.group_by {
            if column.trim().is_empty() {
                return Err("data.group_by must name a column (or be left out)".into());
            }
            if self.data.features.contains(column) {
                return Err(format!(
                    "data.group_by {column:?} is also in data.features; a group column is not a feature"
                ));
            }
        }
        self.threshold_method()?;
        crate::train::backend::Backend::parse(&t.backend)?;
        Ok(())
    }

    /// Applies one dotted override (`train.epochs`, `50`; the value in YAML form, so
    /// `model.hidden` takes `[64,32,32,64]`), then checks the result as a params file is checked.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ParamsError> {
        let err = |message: String| ParamsError::Override { key: key.to_string(), message };
        let mut doc = serde_norway::to_value(&*self).map_err(|e| err(e.to_string()))?;
        set_dotted(&mut doc, key, value)?;
        let updated: Params = serde_norway::from_value(doc).map_err(|e| err(format!("{value:?} does not fit: {e}")))?;
        updated.validate().map_err(err)?;
        *self = updated;
        Ok(())
    }

    pub fn threshold_method(&self) -> Result<ThresholdMethod, String> {
        let th = &self.threshold;
        match th.method.as_str() {
            "quantile" if (0.0..=1.0).contains(&th.quantile) => Ok(ThresholdMethod::Quantile { q: th.quantile }),
            "quantile" => Err(format!("threshold.quantile must be in [0, 1], got {}", th.quantile)),
            "mean_std" => Ok(ThresholdMethod::MeanStd { k: th.k }),
            "max" => Ok(ThresholdMethod::Max { factor: th.factor }),
            other => Err(format!("threshold.method must be quantile, mean_std or max, got {other:?}")),
        }
    }
}

/// Splits `KEY=VALUE` (the form `train --set` and `exp run -S` take).
pub fn split_override(arg: &str) -> Result<(&str, &str), ParamsError> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v.trim())),
        _ => Err(ParamsError::Override {
            key: arg.to_string(),
            message: "expected KEY=VALUE, e.g. train.epochs=50".into(),
        }),
    }
}

/// Sets the dotted `key` (every part but the last naming a mapping) of a YAML document to
/// `value`, parsed as YAML. The key must already exist: a typo is an error listing the keys
/// that do exist at that level, never a new parameter nobody reads.
pub fn set_dotted(doc: &mut serde_norway::Value, key: &str, value: &str) -> Result<(), ParamsError> {
    use serde_norway::Value;
    let err = |message: String| ParamsError::Override { key: key.to_string(), message };
    let new: Value = if value.is_empty() {
        Value::Null
    } else {
        serde_norway::from_str(value).map_err(|e| err(format!("{value:?} is not a YAML value: {e}")))?
    };
    let mut cur = doc;
    let mut walked = String::new();
    for part in key.split('.') {
        let here = if walked.is_empty() { "the top level".to_string() } else { walked.clone() };
        let Value::Mapping(map) = cur else {
            return Err(err(format!("{here} is not a mapping, so it has no key {part:?}")));
        };
        let known: Vec<String> = map.keys().filter_map(|k| k.as_str().map(str::to_string)).collect();
        cur = map
            .get_mut(part)
            .ok_or_else(|| err(format!("{here} has no key {part:?}; expected one of {}", known.join(", "))))?;
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(part);
    }
    *cur = new;
    Ok(())
}
