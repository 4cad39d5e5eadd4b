//! Input drift on live traffic: the last DRIFT_WINDOW scored rows, each feature's value kept as
//! its bin of the model's training deciles (one byte per feature and row: bounded memory), with
//! running counts per bin, so `/drift` and a metrics scrape read the population stability index
//! without going over the rows. Also the anomaly rate over the same rows. Knows nothing of HTTP.
//!
//! The window belongs to one model version: when another is swapped in, it starts afresh
//! against the new model's reference. A model without a reference (trained before drift
//! tracking) is reported as such, with no figures.

use std::collections::VecDeque;
use std::sync::Mutex;

use model_core::drift::{DRIFT_BINS, FeatureReference, OUTSIDE, bin_rows, psi, reading};
use model_core::{Frame, ModelMetadata};
use serde::Serialize;
use utoipa::ToSchema;

/// What `/drift` answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"model_version": "20261203T070006849Z-d1d0f099", "tracking": true, "window": 10000,
    "rows": 2016, "anomaly_rate": 0.146, "features": [{"name": "temperature", "psi": 0.03, "reading": "stable",
    "out_of_range": 0.0, "reference": [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
    "current": [0.12, 0.09, 0.1, 0.11, 0.1, 0.08, 0.1, 0.1, 0.1, 0.1],
    "edges": [17.2, 18.1, 19.0, 20.2, 21.5, 22.9, 24.0, 24.9, 25.8]}]}))]
pub struct DriftReport {
    /// The model version the window belongs to.
    pub model_version: String,
    /// False when drift is not tracked: DRIFT_WINDOW is 0, or the model carries no training
    /// distribution (trained before drift tracking; `reason` says which).
    pub tracking: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// DRIFT_WINDOW: the most rows kept.
    pub window: usize,
    /// Rows in the window now.
    pub rows: usize,
    /// Share of the window's rows above the threshold.
    pub anomaly_rate: f64,
    pub features: Vec<FeatureDrift>,
}

/// One feature's drift over the window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeatureDrift {
    pub name: String,
    /// Population stability index of the window against the training data.
    pub psi: f64,
    /// `stable` (PSI < 0.1), `moderate`, or `shifted` (PSI > 0.25).
    pub reading: &'static str,
    /// Share of the window's values outside the training range.
    pub out_of_range: f64,
    /// Share of the training rows in each decile bin.
    pub reference: Vec<f64>,
    /// Share of the window's rows in each bin.
    pub current: Vec<f64>,
    /// The nine inner training deciles that split the bins.
    pub edges: Vec<f64>,
}

/// The window of one model version.
#[derive(Debug)]
struct Window {
    version: String,
    features: Vec<String>,
    reference: Vec<FeatureReference>,
    /// One byte per feature per row, oldest row first.
    rows: VecDeque<u8>,
    anomalous: VecDeque<bool>,
    counts: Vec<[u64; DRIFT_BINS]>,
    outside: Vec<u64>,
    anomalies: u64,
}

/// The drift window of the service, shared by `/compute`, engine tasks and the readers.
#[derive(Debug)]
pub struct DriftTracker {
    capacity: usize,
    window: Mutex<Option<Window>>,
}

impl DriftTracker {
    /// Keeps the last `capacity` rows (0: tracks nothing).
    pub fn new(capacity: usize) -> DriftTracker {
        DriftTracker { capacity, window: Mutex::new(None) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Window>> {
        // Counts are updated in one piece under the lock; a panic elsewhere leaves them whole.
        self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds the last rows of `frame` (at most the window) scored by the model `version` of
    /// `meta`, and whether each was anomalous. Binning happens before the lock is taken.
    pub fn observe(&self, version: &str, meta: &ModelMetadata, frame: &Frame, anomalous: &[bool]) {
        let d = frame.n_cols();
        if self.capacity == 0 || meta.reference.len() != d || d == 0 {
            return;
        }
        let first = frame.n_rows.saturating_sub(self.capacity);
        let bytes = bin_rows(&meta.reference, &frame.values[first * d..]);
        let flags = anomalous.get(first..).unwrap_or(&[]);
        let mut guard = self.lock();
        if guard.as_ref().is_none_or(|w| w.version != version) {
            *guard = Some(Window {
                version: version.to_string(),
                features: meta.features.clone(),
                reference: meta.reference.clone(),
                rows: VecDeque::new(),
                anomalous: VecDeque::new(),
                counts: vec![[0; DRIFT_BINS]; d],
                outside: vec![0; d],
                anomalies: 0,
            });
        }
        let Some(w) = guard.as_mut() else { return };
        for (row, flag) in bytes.chunks_exact(d).zip(flags.iter().chain(std::iter::repeat(&false))) {
            if w.anomalous.len() == self.capacity {
                w.forget_oldest(d);
            }
            for (j, b) in row.iter().enumerate() {
                w.counts[j][usize::from(b & !OUTSIDE)] += 1;
                w.outside[j] += u64::from(b & OUTSIDE != 0);
            }
            w.rows.extend(row);
            w.anomalous.push_back(*flag);
            w.anomalies += u64::from(*flag);
        }
    }

    /// The window's drift, for the model `version` being served (`meta`).
    pub fn report(&self, version: &str, meta: &ModelMetadata) -> DriftReport {
        let mut report = DriftReport {
            model_version: version.to_string(),
            tracking: false,
            reason: None,
            window: self.capacity,
            rows: 0,
            anomaly_rate: 0.0,
            features: Vec::new(),
        };
        if self.capacity == 0 {
            report.reason = Some("DRIFT_WINDOW is 0: drift is not tracked".into());
            return report;
        }
        if meta.reference.is_empty() {
            report.reason = Some(
                "the model carries no training distribution (trained before drift tracking); retrain it to track drift"
                    .into(),
            );
            return report;
        }
        report.tracking = true;
        let guard = self.lock();
        let Some(w) = guard.as_ref().filter(|w| w.version == version) else {
            // Nothing scored by this version yet: the reference alone.
            report.features = meta
                .features
                .iter()
                .zip(&meta.reference)
                .map(|(name, r)| FeatureDrift {
                    name: name.clone(),
                    psi: 0.0,
                    reading: reading(0.0),
                    out_of_range: 0.0,
                    reference: r.shares.clone(),
                    current: vec![0.0; DRIFT_BINS],
                    edges: r.edges.clone(),
                })
                .collect();
            return report;
        };
        let n = w.anomalous.len();
        report.rows = n;
        report.anomaly_rate = w.anomalies as f64 / n.max(1) as f64;
        report.features = w
            .features
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let current: Vec<f64> = w.counts[j].iter().map(|c| *c as f64 / n.max(1) as f64).collect();
                let value = if n == 0 { 0.0 } else { psi(&w.reference[j].shares, &current) };
                FeatureDrift {
                    name: name.clone(),
                    psi: value,
                    reading: reading(value),
                    out_of_range: w.outside[j] as f64 / n.max(1) as f64,
                    reference: w.reference[j].shares.clone(),
                    current,
                    edges: w.reference[j].edges.clone(),
                }
            })
            .collect();
        report
    }
}

impl Window {
    fn forget_oldest(&mut self, d: usize) {
        for j in 0..d {
            if let Some(b) = self.rows.pop_front() {
                self.counts[j][usize::from(b & !OUTSIDE)] -= 1;
                self.outside[j] -= u64::from(b & OUTSIDE != 0);
            }
        }
        if let Some(flag) = self.anomalous.pop_front() {
            self.anomalies -= u64::from(flag);
        }
    }
}
