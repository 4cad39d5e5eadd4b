//! Scoring rows of many groups as they arrive with a model set, for inputs too large to hold
//! (`batch-score --model SET`): each group's rows go to a [`RowScorer`] of their own model, so a
//! row gets exactly the score [`ModelSet::score`] gives it for the whole input, and scores come
//! out in the input's order.
//!
//! A group's scores come out a chunk of rows behind its input (its windows are detected a chunk
//! at a time), and a row's score waits for those of the rows before it: what is held is a group
//! code per waiting row and the scores ready behind it, a few bytes a row. A group with too few
//! rows to fill a chunk holds the rows after its first one until the end.

use std::collections::VecDeque;

use crate::error::DataError;
use crate::model_set::ModelSet;
use crate::score::RowScorer;

/// How one group of the input was scored, counted as the rows went by.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupTotals {
    pub group: String,
    /// The version of the model that scored it (the member's, or the fallback's).
    pub version: String,
    /// True when the set has no member for the group and its fallback scored it.
    pub fallback: bool,
    pub threshold: f64,
    pub rows: u64,
    pub anomalies: u64,
}

struct GroupStream<'s> {
    /// `None` once finished.
    scorer: Option<RowScorer<'s>>,
    /// Scores given by the scorer and not yet emitted (rows of other groups come first).
    ready: VecDeque<f32>,
    totals: GroupTotals,
}

/// See the module documentation.
pub struct SetRowScorer<'s> {
    set: &'s ModelSet,
    /// By group code (the order groups first appear in, as [`crate::data::Groups`] numbers them).
    streams: Vec<GroupStream<'s>>,
    /// The group code of every row read and not yet emitted, in input order.
    waiting: VecDeque<u32>,
    rows_in: usize,
    /// One group's rows of the current piece.
    piece: Vec<f64>,
}

impl<'s> SetRowScorer<'s> {
    pub fn new(set: &'s ModelSet) -> Self {
        SetRowScorer { set, streams: Vec::new(), waiting: VecDeque::new(), rows_in: 0, piece: Vec::new() }
    }

    /// Takes the rows in `values` (whole rows of the set's features, in order) and their groups
    /// (`codes[i]` indexes `names`, the group values met so far), and hands `emit` each row's
    /// score and its group's threshold, for every row that can be scored now, in input order.
    /// A group the set has no model for (and no fallback) is an error naming it.
    pub fn push(
        &mut self,
        values: &[f64],
        codes: &[u32],
        names: &[String],
        column: &str,
        source: &str,
        emit: &mut dyn FnMut(f32, f64),
    ) -> Result<(), DataError> {
        let d = self.set.manifest.features.len().max(1);
        // New groups, in the order they appear.
        while self.streams.len() < names.len() {
            let name = &names[self.streams.len()];
            let code = self.streams.len() as u32;
            let Some((model, fallback)) = self.set.model_for(name) else {
                let first = codes.iter().position(|&c| c == code).unwrap_or(0);
                return Err(DataError::UnknownGroup {
                    input: source.to_string(),
                    column: column.to_string(),
                    group: name.clone(),
                    row: self.rows_in + first,
                    known: self.set.manifest.groups.iter().map(|m| m.group.clone()).collect(),
                });
            };
            self.streams.push(GroupStream {
                scorer: Some(RowScorer::new(model)),
                ready: VecDeque::new(),
                totals: GroupTotals {
                    group: name.clone(),
                    version: model.meta.version.clone(),
                    fallback,
                    threshold: model.meta.threshold.value,
                    rows: 0,
                    anomalies: 0,
                },
            });
        }
        // Each group's rows of this piece, in their order, to its own scorer.
        let mut present: Vec<u32> = codes.to_vec();
        present.sort_unstable();
        present.dedup();
        for code in present {
            self.piece.clear();
            for (row, _) in codes.iter().enumerate().filter(|(_, c)| **c == code) {
                self.piece.extend_from_slice(&values[row * d..(row + 1) * d]);
            }
            let stream = &mut self.streams[code as usize];
            let ready = &mut stream.ready;
            if let Some(scorer) = &mut stream.scorer {
                scorer.push(&self.piece, &mut |s| ready.push_back(s));
            }
        }
        self.waiting.extend(codes.iter().copied());
        self.rows_in += codes.len();
        self.emit_ready(emit);
        Ok(())
    }

    /// Scores the rest and returns each group's totals, in the order the groups appeared. A
    /// group shorter than a window fails as [`ModelSet::score`] does, naming the group.
    pub fn finish(
        mut self,
        column: &str,
        source: &str,
        emit: &mut dyn FnMut(f32, f64),
    ) -> Result<Vec<GroupTotals>, DataError> {
        for stream in &mut self.streams {
            let Some(scorer) = stream.scorer.take() else { continue };
            let named = format!("{source}, {column}={:?}", stream.totals.group);
            let ready = &mut stream.ready;
            scorer.finish(&named, &mut |s| ready.push_back(s))?;
        }
        self.emit_ready(emit);
        Ok(self.streams.into_iter().map(|s| s.totals).collect())
    }

    /// Emits the waiting rows whose scores are there, from the first on.
    fn emit_ready(&mut self, emit: &mut dyn FnMut(f32, f64)) {
        while let Some(&code) = self.waiting.front() {
            let stream = &mut self.streams[code as usize];
            let Some(score) = stream.ready.pop_front() else { break };
            let threshold = stream.totals.threshold;
            stream.totals.rows += 1;
            stream.totals.anomalies += u64::from(f64::from(score) > threshold);
            emit(score, threshold);
            self.waiting.pop_front();
        }
    }
}
