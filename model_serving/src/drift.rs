//! Input drift on live traffic: the last DRIFT_WINDOW scored rows, each feature's value kept as
//! its bin of the model's training deciles (one byte per feature and row: bounded memory), with
//! running counts per bin, so `/drift` and a metrics scrape read the population stability index
//! without going over the rows. Also the rows' scores, grouped by the request (or engine task)
//! that scored them with its time (`/scores/recent`, the live chart of `/ui`), and the anomaly
//! rate over the same rows. Knows nothing of HTTP.
//!
//! The window belongs to one model version: when another is swapped in, it starts afresh
//! against the new model's reference. A model without a reference (trained before drift
//! tracking) is reported as such, with no figures.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use model_core::drift::{DRIFT_BINS, FeatureReference, OUTSIDE, bin_rows, psi, reading};
use model_core::{Frame, ModelMetadata, Scores};
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

/// What `/scores/recent` answers: the scores of the rows in the window, by the request that
/// scored them.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"model_version": "20261203T070006849Z-d1d0f099", "threshold": 0.85, "window": 10000,
    "rows": 5, "batches": [{"at": 1764745200.125, "scores": [0.12, 0.3, 0.2]}, {"at": 1764745201.5, "scores": [0.4, 2.7]}]}))]
pub struct RecentScores {
    /// The model version the window belongs to.
    pub model_version: String,
    /// Rows scoring above this are anomalous.
    pub threshold: f64,
    /// DRIFT_WINDOW: the most rows kept (0: nothing is kept).
    pub window: usize,
    /// Rows in the window now.
    pub rows: usize,
    /// Oldest first. A request larger than the window keeps its last rows only, and the oldest
    /// batch may have lost its first rows to newer ones.
    pub batches: Vec<RecentBatch>,
}

/// The rows one request or engine task had scored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecentBatch {
    /// When they were scored, in seconds since the Unix epoch.
    pub at: f64,
    /// In row order.
    pub scores: Vec<f32>,
}

/// The window of one model version.
#[derive(Debug)]
struct Window {
    version: String,
    features: Vec<String>,
    reference: Vec<FeatureReference>,
    /// Whether the model carries a training distribution: without one only scores are kept.
    binned: bool,
    /// One byte per feature per row, oldest row first (empty when not `binned`).
    rows: VecDeque<u8>,
    scores: VecDeque<f32>,
    threshold: f64,
    /// When each group of rows was scored and how many of them are still in the window.
    batches: VecDeque<(f64, usize)>,
    /// Per feature, the window's values counted by byte ([`slot`]): bin and outside flag.
    counts: Vec<Tally>,
    anomalies: u64,
}

/// One feature's counts, by [`slot`]: the bins of values inside the training range in the first
/// half, of those outside it in the second. One increment per value, at an index that needs no
/// bounds check (a byte masked to five bits), where counting bins and flags apart took two, each
/// through a bounds-checked vector.
type Tally = [u64; SLOTS];
const SLOTS: usize = 32;
const OUTSIDE_SLOTS: usize = SLOTS / 2;

/// The slot of a [`bin_rows`] byte: its bin (below 16), plus 16 when [`OUTSIDE`] is set.
fn slot(byte: u8) -> usize {
    const _: () = assert!(DRIFT_BINS <= OUTSIDE_SLOTS && OUTSIDE == 0x80);
    usize::from((byte & 0x0f) | ((byte >> 3) & 0x10))
}

/// Counts `bytes` (values of consecutive features, the first of them feature `first`) into
/// `counts`, or out of them when `remove`; returns the feature the next byte would be.
fn tally(counts: &mut [Tally], bytes: &[u8], first: usize, remove: bool) -> usize {
    let d = counts.len();
    if d == 0 {
        return 0;
    }
    let step = |c: &mut Tally, b: &u8| {
        let c = &mut c[slot(*b)];
        *c = if remove { *c - 1 } else { *c + 1 };
    };
    // The rest of the first row, whole rows, then the start of the last.
    let head = if first == 0 { 0 } else { (d - first).min(bytes.len()) };
    counts[first..].iter_mut().zip(&bytes[..head]).for_each(|(c, b)| step(c, b));
    let rows = bytes[head..].chunks_exact(d);
    let tail = rows.remainder();
    for row in rows {
        counts.iter_mut().zip(row).for_each(|(c, b)| step(c, b));
    }
    counts.iter_mut().zip(tail).for_each(|(c, b)| step(c, b));
    if first > 0 && first + head < d { first + head } else { tail.len() }
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

    /// Adds the last rows of `frame` (at most the window) and their `scores` from the model
    /// `version` of `meta`. Binning happens before the lock is taken.
    pub fn observe(&self, version: &str, meta: &ModelMetadata, frame: &Frame, scores: &Scores) {
        let d = frame.n_cols();
        if self.capacity == 0 || d == 0 || scores.scores.len() != frame.n_rows {
            return;
        }
        let binned = meta.reference.len() == d;
        let first = frame.n_rows.saturating_sub(self.capacity);
        let bytes = if binned { bin_rows(&meta.reference, &frame.values[first * d..]) } else { Vec::new() };
        // Counted before the lock is taken (nothing without a reference: no bytes); added under
        // it in a few adds per feature.
        let mut added = vec![[0; SLOTS]; d];
        tally(&mut added, &bytes, 0, false);
        let kept = &scores.scores[first..];
        let at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |t| t.as_secs_f64());
        let mut guard = self.lock();
        if guard.as_ref().is_none_or(|w| w.version != version) {
            *guard = Some(Window {
                version: version.to_string(),
                features: meta.features.clone(),
                reference: meta.reference.clone(),
                binned,
                rows: VecDeque::new(),
                scores: VecDeque::new(),
                threshold: scores.threshold,
                batches: VecDeque::new(),
                counts: vec![[0; SLOTS]; d],
                anomalies: 0,
            });
        }
        let Some(w) = guard.as_mut() else { return };
        w.forget_oldest((w.scores.len() + kept.len()).saturating_sub(self.capacity), d);
        if w.binned {
            for (c, a) in w.counts.iter_mut().zip(&added) {
                c.iter_mut().zip(a).for_each(|(c, a)| *c += a);
            }
            w.rows.extend(&bytes);
        }
        let threshold = w.threshold;
        w.anomalies += kept.iter().filter(|s| f64::from(**s) > threshold).count() as u64;
        w.scores.extend(kept);
        if !kept.is_empty() {
            w.batches.push_back((at, kept.len()));
        }
    }

    /// The scores in the window, for the model `version` being served (`meta`).
    pub fn recent(&self, version: &str, meta: &ModelMetadata) -> RecentScores {
        let mut recent = RecentScores {
            model_version: version.to_string(),
            threshold: meta.threshold.value,
            window: self.capacity,
            rows: 0,
            batches: Vec::new(),
        };
        let guard = self.lock();
        let Some(w) = guard.as_ref().filter(|w| w.version == version) else { return recent };
        recent.rows = w.scores.len();
        let mut scores = w.scores.iter();
        recent.batches = w
            .batches
            .iter()
            .map(|(at, n)| RecentBatch { at: *at, scores: scores.by_ref().take(*n).copied().collect() })
            .collect();
        recent
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
        let n = w.scores.len();
        report.rows = n;
        report.anomaly_rate = w.anomalies as f64 / n.max(1) as f64;
        report.features = w
            .features
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let c = &w.counts[j];
                let current: Vec<f64> =
                    (0..DRIFT_BINS).map(|k| (c[k] + c[OUTSIDE_SLOTS + k]) as f64 / n.max(1) as f64).collect();
                let outside: u64 = c[OUTSIDE_SLOTS..].iter().sum();
                let value = if n == 0 { 0.0 } else { psi(&w.reference[j].shares, &current) };
                FeatureDrift {
                    name: name.clone(),
                    psi: value,
                    reading: reading(value),
                    out_of_range: outside as f64 / n.max(1) as f64,
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
    /// Drops the oldest `k` rows, in bulk: a large request that fills the window replaces it
    /// without going over the old rows.
    fn forget_oldest(&mut self, k: usize, d: usize) {
        if k == 0 {
            return;
        }
        if k >= self.scores.len() {
            self.rows.clear();
            self.scores.clear();
            self.batches.clear();
            self.counts.iter_mut().for_each(|c| *c = [0; SLOTS]);
            self.anomalies = 0;
            return;
        }
        if self.binned {
            let (front, back) = self.rows.as_slices();
            let n = k * d;
            let in_front = n.min(front.len());
            let next = tally(&mut self.counts, &front[..in_front], 0, true);
            tally(&mut self.counts, &back[..n - in_front], next, true);
            self.rows.drain(..n);
        }
        let threshold = self.threshold;
        self.anomalies -= self.scores.range(..k).filter(|s| f64::from(**s) > threshold).count() as u64;
        self.scores.drain(..k);
        let mut left = k;
        while let Some(front) = self.batches.front_mut() {
            if front.1 > left {
                front.1 -= left;
                break;
            }
            left -= front.1;
            self.batches.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counting a store split inside a row (the split a wrapped window's capacity may put
    /// anywhere) gives what counting it whole gives, both ways.
    #[test]
    fn counts_split_inside_a_row_equal_counts_of_the_whole() {
        let d = 3;
        let bytes: Vec<u8> = (0..31u8).map(|i| ((i * 7) % 10) | if i % 5 == 0 { OUTSIDE } else { 0 }).collect();
        let mut whole = vec![[0; SLOTS]; d];
        tally(&mut whole, &bytes[..30], 0, false);
        for split in 0..30 {
            // In three parts: up to the split, one value, the rest.
            let mut parts = vec![[0; SLOTS]; d];
            let next = tally(&mut parts, &bytes[..split], 0, false);
            assert_eq!(next, split % d, "split at {split}");
            let next = tally(&mut parts, &bytes[split..split + 1], next, false);
            assert_eq!(next, (split + 1) % d, "split at {split}");
            assert_eq!(tally(&mut parts, &bytes[split + 1..30], next, false), 0, "split at {split}");
            assert_eq!(parts, whole, "split at {split}");
            let next = tally(&mut parts, &bytes[..split], 0, true);
            tally(&mut parts, &bytes[split..30], next, true);
            assert!(parts.iter().flatten().all(|c| *c == 0), "split at {split}");
        }
        let outside: u64 = whole.iter().map(|c| c[OUTSIDE_SLOTS..].iter().sum::<u64>()).sum();
        assert_eq!(outside, 6);
    }
}
