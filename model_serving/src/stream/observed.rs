//! A stream batch's scored readings, gathered as the drift windows take a request's rows: each
//! reading's own values (the last row of its window) with its score and, with a model set, each
//! source's rows as one group against its own model's threshold. So `/drift`, `/scores/recent`
//! and the live page show what the stream scores, as they show what `/compute` scores.

use std::collections::HashMap;

use model_core::model_set::GroupScores;
use model_core::{Artifact, Frame, Model, Scores};

pub struct Observed {
    values: Vec<f64>,
    scores: Vec<f32>,
    anomalies: Vec<usize>,
    /// With a model set: where each source's group is in `groups`.
    by_source: HashMap<String, usize>,
    groups: Vec<GroupScores>,
}

impl Observed {
    pub fn with_capacity(readings: usize, features: usize) -> Observed {
        Observed {
            values: Vec::with_capacity(readings * features),
            scores: Vec::with_capacity(readings),
            anomalies: Vec::new(),
            by_source: HashMap::new(),
            groups: Vec::new(),
        }
    }

    /// A reading of `source` (its `row` of feature values) that `model` scored `score`; `served`
    /// is what is served (the set `model` belongs to, or `model` itself).
    pub fn push(&mut self, served: &Artifact, source: &str, model: &Model, row: &[f64], score: f32) {
        let at = self.scores.len();
        let anomalous = f64::from(score) > model.meta.threshold.value;
        self.values.extend_from_slice(row);
        self.scores.push(score);
        if anomalous {
            self.anomalies.push(at);
        }
        let Some(set) = served.set() else { return };
        let index = match self.by_source.get(source) {
            Some(&index) => index,
            None => {
                self.groups.push(GroupScores {
                    group: source.to_string(),
                    version: model.meta.version.clone(),
                    fallback: set.model_for(source).is_some_and(|(_, fallback)| fallback),
                    threshold: model.meta.threshold.value,
                    rows: Vec::new(),
                    anomalies: 0,
                });
                self.by_source.insert(source.to_string(), self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[index];
        group.rows.push(at);
        group.anomalies += usize::from(anomalous);
    }

    /// The readings as a frame of `features`, their scores (each set group's own threshold in
    /// `groups`; the scores' threshold is NaN then) and, for a set, the groups.
    pub fn into_parts(self, served: &Artifact, features: &[String]) -> (Frame, Scores, Option<Vec<GroupScores>>) {
        let frame = Frame { columns: features.to_vec(), n_rows: self.scores.len(), values: self.values };
        let threshold = served.single().map_or(f64::NAN, |model| model.meta.threshold.value);
        let scores = Scores { scores: self.scores, threshold, anomalies: self.anomalies };
        let groups = served.set().map(|_| self.groups);
        (frame, scores, groups)
    }
}
