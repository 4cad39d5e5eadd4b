//! The model being served, with where it came from, swapped whole: a request takes the current
//! model once ([`CurrentModel::get`]) and is scored, reported and plotted with that one, so a
//! swap in the middle of a request changes nothing for it (arc-swap: readers never block and
//! never see half a swap). Before a registry alias exists and when no fallback model is there,
//! there is no model: the service is unready and `/compute` answers 503.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use model_core::ThresholdMethod;

use crate::metrics::Metrics;

pub use model_core::model_set::Artifact;

/// A loaded, verified model (or model set) and its provenance.
#[derive(Debug)]
pub struct ServedModel {
    pub model: Artifact,
    /// The registry's model name, or the metadata's name outside a registry.
    pub name: String,
    /// The registry version, or the metadata's version outside a registry: what every response
    /// names as `model_version`.
    pub version: String,
    /// Where it was read: a directory, `s3://…/`, or `REGISTRY NAME:VERSION`.
    pub source: String,
    /// The registry alias followed, if any.
    pub alias: Option<String>,
    /// When this model was swapped in, RFC 3339 UTC.
    pub loaded_at: String,
    /// True when this is MODEL_PATH served because the followed alias did not exist yet.
    pub fallback: bool,
    /// The features' names, shared by every explanation that names one (not a string copied
    /// per named feature per row).
    pub feature_names: Vec<Arc<str>>,
}

impl ServedModel {
    /// A model read outside a registry (MODEL_PATH or MODEL_URI), named by its own metadata
    /// (a set by its manifest).
    pub fn plain(model: Artifact, source: String) -> ServedModel {
        let (name, version) = model.name_version();
        let (name, version) = (name.to_string(), version.to_string());
        ServedModel::new(model, name, version, source, None)
    }

    /// `model` as loaded now from `source`, named `name` and `version`, following `alias`.
    pub fn new(model: Artifact, name: String, version: String, source: String, alias: Option<String>) -> ServedModel {
        let feature_names = model.meta().features.iter().map(|f| Arc::from(f.as_str())).collect();
        ServedModel { model, name, version, source, alias, loaded_at: now_rfc3339(), fallback: false, feature_names }
    }
}

/// The slot requests take the model from, and the `model_info` series that names it.
#[derive(Debug)]
pub struct CurrentModel {
    slot: ArcSwapOption<ServedModel>,
    /// `None` for a slot whose model is not the served one (the shadow model).
    metrics: Option<Arc<Metrics>>,
}

impl CurrentModel {
    pub fn new(initial: Option<ServedModel>, metrics: Arc<Metrics>) -> CurrentModel {
        CurrentModel::with(initial, Some(metrics))
    }

    /// A slot that does not name its model in the served model's metrics (the shadow model).
    pub fn unlisted(initial: Option<ServedModel>) -> CurrentModel {
        CurrentModel::with(initial, None)
    }

    fn with(initial: Option<ServedModel>, metrics: Option<Arc<Metrics>>) -> CurrentModel {
        let current = CurrentModel { slot: ArcSwapOption::empty(), metrics };
        if let Some(model) = initial {
            current.set(model);
        }
        current
    }

    /// The model to score with, if there is one yet.
    pub fn get(&self) -> Option<Arc<ServedModel>> {
        self.slot.load_full()
    }

    /// Swaps `model` in: requests that already took the old one finish with it. The
    /// `model_info` series is replaced, never two at once.
    pub fn set(&self, model: ServedModel) {
        if let Some(metrics) = &self.metrics {
            publish(metrics, &model);
        }
        tracing::info!(model = %model.name, version = %model.version, source = %model.source,
            features = model.model.meta().features.len(), set = model.model.set().is_some(), fallback = model.fallback, served = self.metrics.is_some(),
            "model swapped in");
        self.slot.store(Some(Arc::new(model)));
    }
}

/// Names `model` in the served model's metrics.
fn publish(metrics: &Metrics, model: &ServedModel) {
    let meta = model.model.meta();
    let info = &metrics.model_info;
    info.reset();
    info.with_label_values(&[
        model.name.as_str(),
        model.version.as_str(),
        meta.features.len().to_string().as_str(),
        meta.window.length.to_string().as_str(),
        model.source.as_str(),
    ])
    .set(1);
    metrics.model_loaded.set(time::OffsetDateTime::now_utc().unix_timestamp() as f64);
    metrics.expected_anomaly_rate.set(match meta.threshold.method {
        ThresholdMethod::Quantile { q } => (1.0 - q).clamp(0.0, 1.0),
        ThresholdMethod::MeanStd { k } => 1.0 / (1.0 + k * k),
        ThresholdMethod::Max { .. } => 0.0,
    });
}

/// The current time as RFC 3339 UTC, to the second.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| now.unix_timestamp().to_string())
}
