//! Input drift on live traffic: the last DRIFT_WINDOW scored rows, each feature's value kept as
//! its bin of the model's training deciles (one byte per feature and row: bounded memory), with
//! running counts per bin, so `/drift` and a metrics scrape read the population stability index
//! without going over the rows. Also the rows' scores, grouped by the request (engine task,
//! batch of streamed readings) that scored them with its time (`/scores/recent`, the live chart
//! of `/ui`), and the anomaly rate over the same rows. Knows nothing of HTTP.
//!
//! The windows belong to one model version: when another is swapped in, they start afresh
//! against the new model's reference. A model without a reference (trained before drift
//! tracking) is reported as such, with no figures. A model set keeps one window per member
//! (each against its own training distribution and threshold) and one for the rows its fallback
//! scored (every group without a member shares it, so unknown names cannot add windows).

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use model_core::drift::{DRIFT_BINS, FeatureReference, OUTSIDE, bin_rows, psi, reading};
use model_core::model_set::GroupScores;
use model_core::{Artifact, Frame, ModelMetadata, Scores};
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
    /// The model version the window belongs to (a model set's version for a set).
    pub model_version: String,
    /// False when drift is not tracked: DRIFT_WINDOW is 0, or the model carries no training
    /// distribution (trained before drift tracking; `reason` says which).
    pub tracking: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// DRIFT_WINDOW: the most rows kept (per group, for a model set).
    pub window: usize,
    /// Rows in the window now (in all groups' windows, for a model set).
    pub rows: usize,
    /// Share of the window's rows above the threshold (each above its own group's, for a set).
    pub anomaly_rate: f64,
    /// Empty for a model set: its groups' features are compared with their own training data,
    /// in `groups`.
    pub features: Vec<FeatureDrift>,
    /// A model set's drift, per group scored lately (or the one asked for with `?group=`): its
    /// members' in group order, then the fallback's. Absent for a single model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupDrift>>,
}

/// The drift of one group of a model set, against its own model's training data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupDrift {
    /// The group's name; `(fallback)` for the rows of every group the set has no member for.
    pub group: String,
    /// True for the rows the set's fallback model scored.
    pub fallback: bool,
    /// The version of the model that scores the group.
    pub model_version: String,
    /// False when that model carries no training distribution (its scores are still counted).
    pub tracking: bool,
    pub rows: usize,
    /// Share of the group's rows above its model's threshold.
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
    /// Rows scoring above this are anomalous. For a model set's groups together, 1: each score
    /// is then relative to its own group's threshold.
    pub threshold: f64,
    /// True when the scores are relative to their groups' thresholds (a model set's groups
    /// together; `?group=` gives one group's own scores).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub relative: bool,
    /// DRIFT_WINDOW: the most rows kept (0: nothing is kept).
    pub window: usize,
    /// Rows in the window now.
    pub rows: usize,
    /// Oldest first. A request larger than the window keeps its last rows only, and the oldest
    /// batch may have lost its first rows to newer ones.
    pub batches: Vec<RecentBatch>,
}

/// The rows one request, engine task or batch of streamed readings had scored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecentBatch {
    /// When they were scored, in seconds since the Unix epoch.
    pub at: f64,
    /// In row order.
    pub scores: Vec<f32>,
}

/// `?group=` named no group of the served model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("group={0:?} asks for a group, but the served model is a single model, not a model set; leave out group")]
    NotASet(String),
    #[error(
        "group={group:?} is not a group of the served model set, which has no fallback model; its groups are {}",
        .known.join(", ")
    )]
    Unknown { group: String, known: Vec<String> },
}

/// The label of the fallback's window, in reports and metrics.
pub const FALLBACK_GROUP: &str = "(fallback)";

/// Which window rows go to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    /// The one model served.
    Model,
    /// A model set's member, by the index of its group in the set's manifest.
    Member(usize, String),
    /// A model set's fallback.
    Fallback,
}

/// The windows of one model version.
#[derive(Debug)]
struct Windows {
    version: String,
    by_key: BTreeMap<Key, Window>,
}

/// The window of one model (a single model, or a set member or its fallback).
#[derive(Debug)]
struct Window {
    /// The version of the model that scores its rows.
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

/// Rows bound for one window, binned and counted before the lock is taken.
struct Part<'m> {
    key: Key,
    meta: &'m ModelMetadata,
    threshold: f64,
    /// The rows' bytes ([`bin_rows`]), empty when the model has no reference.
    bytes: Vec<u8>,
    /// Their counts, added to the window's in a few adds per feature.
    added: Vec<Tally>,
    /// Borrowed from the answer for a single model's rows (no copy on the request path).
    scores: Cow<'m, [f32]>,
}

impl<'m> Part<'m> {
    /// The rows of `values` (`d` features each) and their `scores`, for the model of `meta`.
    fn new(
        key: Key,
        meta: &'m ModelMetadata,
        threshold: f64,
        values: &[f64],
        d: usize,
        scores: Cow<'m, [f32]>,
    ) -> Self {
        let binned = meta.reference.len() == d;
        let bytes = if binned { bin_rows(&meta.reference, values) } else { Vec::new() };
        let mut added = vec![[0; SLOTS]; d];
        tally(&mut added, &bytes, 0, false);
        Part { key, meta, threshold, bytes, added, scores }
    }
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

/// The drift windows of the service, shared by `/compute`, engine tasks, the stream and the readers.
#[derive(Debug)]
pub struct DriftTracker {
    capacity: usize,
    windows: Mutex<Option<Windows>>,
}

impl DriftTracker {
    /// Keeps the last `capacity` rows (per group for a model set; 0: tracks nothing).
    pub fn new(capacity: usize) -> DriftTracker {
        DriftTracker { capacity, windows: Mutex::new(None) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Windows>> {
        // Counts are updated in one piece under the lock; a panic elsewhere leaves them whole.
        self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds the last rows of `frame` (at most the window) and their `scores` from the model
    /// `version` of `meta`. Binning happens before the lock is taken.
    pub fn observe(&self, version: &str, meta: &ModelMetadata, frame: &Frame, scores: &Scores) {
        let d = frame.n_cols();
        if self.capacity == 0 || d == 0 || scores.scores.len() != frame.n_rows {
            return;
        }
        let first = frame.n_rows.saturating_sub(self.capacity);
        let kept = Cow::Borrowed(&scores.scores[first..]);
        let part = Part::new(Key::Model, meta, scores.threshold, &frame.values[first * d..], d, kept);
        self.add(version, std::iter::once(part), d);
    }

    /// Adds the rows of `frame` that a model set (`version`, `model`) scored, each group's last
    /// rows (at most the window) to its own model's window; `scores` are in the frame's row
    /// order, `groups` as [`model_core::ModelSet::score`] returned them.
    pub fn observe_set(&self, version: &str, model: &Artifact, frame: &Frame, scores: &[f32], groups: &[GroupScores]) {
        let d = frame.n_cols();
        let Some(set) = model.set() else { return };
        if self.capacity == 0 || d == 0 || scores.len() != frame.n_rows {
            return;
        }
        let mut parts = Vec::with_capacity(groups.len());
        for group in groups {
            let Some((member, fallback)) = set.model_for(&group.group) else { continue };
            let rows = &group.rows[group.rows.len().saturating_sub(self.capacity)..];
            let mut values = Vec::with_capacity(rows.len() * d);
            for &r in rows {
                values.extend_from_slice(frame.row(r));
            }
            let kept = Cow::Owned(rows.iter().map(|&r| scores[r]).collect());
            let key = match set.manifest.groups.iter().position(|m| m.group == group.group) {
                Some(i) if !fallback => Key::Member(i, group.group.clone()),
                _ => Key::Fallback,
            };
            parts.push(Part::new(key, &member.meta, group.threshold, &values, d, kept));
        }
        self.add(version, parts, d);
    }

    /// Adds `parts` to their windows of `version`, under the lock.
    fn add<'m>(&self, version: &str, parts: impl IntoIterator<Item = Part<'m>>, d: usize) {
        let at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |t| t.as_secs_f64());
        let mut guard = self.lock();
        if guard.as_ref().is_none_or(|w| w.version != version) {
            *guard = Some(Windows { version: version.to_string(), by_key: BTreeMap::new() });
        }
        let Some(windows) = guard.as_mut() else { return };
        for part in parts {
            let window =
                windows.by_key.entry(part.key.clone()).or_insert_with(|| Window::new(part.meta, part.threshold));
            window.add(self.capacity, part, d, at);
        }
    }

    /// The scores in the window, for the model `version` being served (`model`): a set's
    /// `group` alone when one is named, else every group's relative to its threshold (the last
    /// `capacity` rows of them all).
    pub fn recent(&self, version: &str, model: &Artifact, group: Option<&str>) -> Result<RecentScores, GroupError> {
        let key = key_of(model, group)?;
        // The threshold of the model that scores the window (the window keeps the one it was
        // scored against); 1 for a set's groups together, each score relative to its own.
        let threshold = match &key {
            None => 1.0,
            Some(Key::Member(_, name)) => model.model_for(name).map_or(f64::NAN, |m| m.meta.threshold.value),
            Some(Key::Fallback) => model.set().and_then(|s| s.fallback()).map_or(f64::NAN, |m| m.meta.threshold.value),
            Some(Key::Model) => model.meta().threshold.value,
        };
        let mut recent = RecentScores {
            model_version: version.to_string(),
            threshold,
            relative: key.is_none(),
            window: self.capacity,
            rows: 0,
            batches: Vec::new(),
        };
        let guard = self.lock();
        let Some(windows) = guard.as_ref().filter(|w| w.version == version) else { return Ok(recent) };
        match key {
            Some(key) => {
                if let Some(w) = windows.by_key.get(&key) {
                    recent.rows = w.scores.len();
                    recent.batches = w.batches_divided(1.0);
                }
            }
            None => {
                let mut batches: Vec<RecentBatch> = windows
                    .by_key
                    .values()
                    .flat_map(|w| w.batches_divided(w.threshold.max(f64::MIN_POSITIVE)))
                    .collect();
                batches.sort_by(|a, b| a.at.total_cmp(&b.at));
                // The newest rows up to the window, as one model's would be.
                let mut left = self.capacity;
                let mut keep = Vec::new();
                for mut batch in batches.into_iter().rev() {
                    if left == 0 {
                        break;
                    }
                    let n = batch.scores.len().min(left);
                    batch.scores.drain(..batch.scores.len() - n);
                    left -= n;
                    keep.push(batch);
                }
                keep.reverse();
                recent.rows = keep.iter().map(|b| b.scores.len()).sum();
                recent.batches = keep;
            }
        }
        Ok(recent)
    }

    /// The window's drift, for the model `version` being served (`model`); for a set, each
    /// group's (or `group`'s alone).
    pub fn report(&self, version: &str, model: &Artifact, group: Option<&str>) -> Result<DriftReport, GroupError> {
        let key = key_of(model, group)?;
        let meta = model.meta();
        let mut report = DriftReport {
            model_version: version.to_string(),
            tracking: false,
            reason: None,
            window: self.capacity,
            rows: 0,
            anomaly_rate: 0.0,
            features: Vec::new(),
            groups: model.set().map(|_| Vec::new()),
        };
        if self.capacity == 0 {
            report.reason = Some("DRIFT_WINDOW is 0: drift is not tracked".into());
            return Ok(report);
        }
        if meta.reference.is_empty() {
            report.reason = Some(
                "the model carries no training distribution (trained before drift tracking); retrain it to track drift"
                    .into(),
            );
            return Ok(report);
        }
        report.tracking = true;
        let guard = self.lock();
        let windows = guard.as_ref().filter(|w| w.version == version);
        let Some(set) = model.set() else {
            match windows.and_then(|w| w.by_key.get(&Key::Model)) {
                Some(w) => {
                    report.rows = w.scores.len();
                    report.anomaly_rate = w.anomaly_rate();
                    report.features = w.features_drift();
                }
                // Nothing scored by this version yet: the reference alone.
                None => report.features = reference_only(meta),
            }
            return Ok(report);
        };
        let mut groups = Vec::new();
        let mut anomalies = 0;
        let by_key = windows.map(|w| &w.by_key);
        for (key, w) in by_key.into_iter().flatten().filter(|(k, _)| key.as_ref().is_none_or(|want| want == *k)) {
            report.rows += w.scores.len();
            anomalies += w.anomalies;
            groups.push(group_drift(key, w.version.clone(), Some(w), &w.reference));
        }
        // A member asked for by name that has scored nothing yet: its reference alone.
        if let Some(key @ Key::Member(_, name)) = &key
            && groups.is_empty()
            && let Some((member, _)) = set.model_for(name)
        {
            let mut drift = group_drift(key, member.meta.version.clone(), None, &member.meta.reference);
            drift.features = reference_only(&member.meta);
            groups.push(drift);
        }
        report.anomaly_rate = anomalies as f64 / report.rows.max(1) as f64;
        report.groups = Some(groups);
        Ok(report)
    }
}

/// The window a `group` query asks for: a single model's one window, or `None` for every
/// window of a set (no group named).
fn key_of(model: &Artifact, group: Option<&str>) -> Result<Option<Key>, GroupError> {
    let set = match (model.set(), group) {
        (None, None) => return Ok(Some(Key::Model)),
        (None, Some(group)) => return Err(GroupError::NotASet(group.to_string())),
        (Some(_), None) => return Ok(None),
        (Some(set), Some(_)) => set,
    };
    let Some(group) = group else { return Ok(None) };
    if let Some(i) = set.manifest.groups.iter().position(|m| m.group == group) {
        return Ok(Some(Key::Member(i, group.to_string())));
    }
    // Any other name is scored by the fallback, when there is one: its window is the group's.
    if set.fallback().is_some() {
        return Ok(Some(Key::Fallback));
    }
    Err(GroupError::Unknown {
        group: group.to_string(),
        known: set.manifest.groups.iter().map(|m| m.group.clone()).collect(),
    })
}

/// A group's entry in a set's report; `window` is `None` before it has scored anything.
fn group_drift(key: &Key, version: String, window: Option<&Window>, reference: &[FeatureReference]) -> GroupDrift {
    let (group, fallback) = match key {
        Key::Member(_, name) => (name.clone(), false),
        Key::Model | Key::Fallback => (FALLBACK_GROUP.to_string(), true),
    };
    GroupDrift {
        group,
        fallback,
        model_version: version,
        tracking: !reference.is_empty(),
        rows: window.map_or(0, |w| w.scores.len()),
        anomaly_rate: window.map_or(0.0, Window::anomaly_rate),
        features: window.map_or_else(Vec::new, Window::features_drift),
    }
}

/// The training distribution of `meta`'s features with nothing scored against it yet.
fn reference_only(meta: &ModelMetadata) -> Vec<FeatureDrift> {
    meta.features
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
        .collect()
}

impl Window {
    fn new(meta: &ModelMetadata, threshold: f64) -> Window {
        let d = meta.features.len();
        Window {
            version: meta.version.clone(),
            features: meta.features.clone(),
            reference: meta.reference.clone(),
            binned: meta.reference.len() == d,
            rows: VecDeque::new(),
            scores: VecDeque::new(),
            threshold,
            batches: VecDeque::new(),
            counts: vec![[0; SLOTS]; d],
            anomalies: 0,
        }
    }

    /// Adds `part`'s rows scored at `at`, forgetting the oldest beyond `capacity`.
    fn add(&mut self, capacity: usize, part: Part, d: usize, at: f64) {
        let kept = &part.scores;
        self.forget_oldest((self.scores.len() + kept.len()).saturating_sub(capacity), d);
        if self.binned && part.bytes.len() == kept.len() * d {
            for (c, a) in self.counts.iter_mut().zip(&part.added) {
                c.iter_mut().zip(a).for_each(|(c, a)| *c += a);
            }
            self.rows.extend(&part.bytes);
        }
        let threshold = self.threshold;
        self.anomalies += kept.iter().filter(|s| f64::from(**s) > threshold).count() as u64;
        self.scores.extend(kept.iter());
        if !kept.is_empty() {
            self.batches.push_back((at, kept.len()));
        }
    }

    fn anomaly_rate(&self) -> f64 {
        self.anomalies as f64 / self.scores.len().max(1) as f64
    }

    /// The window's batches, each score divided by `divisor` (as `SetScores::relative` divides
    /// by a group's threshold, so that the same rows are above 1).
    fn batches_divided(&self, divisor: f64) -> Vec<RecentBatch> {
        let mut scores = self.scores.iter();
        self.batches
            .iter()
            .map(|(at, n)| RecentBatch {
                at: *at,
                scores: scores.by_ref().take(*n).map(|s| (f64::from(*s) / divisor) as f32).collect(),
            })
            .collect()
    }

    /// Each feature's drift over the window.
    fn features_drift(&self) -> Vec<FeatureDrift> {
        let n = self.scores.len();
        self.features
            .iter()
            .enumerate()
            .filter(|_| self.binned)
            .map(|(j, name)| {
                let c = &self.counts[j];
                let current: Vec<f64> =
                    (0..DRIFT_BINS).map(|k| (c[k] + c[OUTSIDE_SLOTS + k]) as f64 / n.max(1) as f64).collect();
                let outside: u64 = c[OUTSIDE_SLOTS..].iter().sum();
                let value = if n == 0 { 0.0 } else { psi(&self.reference[j].shares, &current) };
                FeatureDrift {
                    name: name.clone(),
                    psi: value,
                    reading: reading(value),
                    out_of_range: outside as f64 / n.max(1) as f64,
                    reference: self.reference[j].shares.clone(),
                    current,
                    edges: self.reference[j].edges.clone(),
                }
            })
            .collect()
    }

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
