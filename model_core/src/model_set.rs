//! A loaded model set ([`crate::set`]): every member model, checked against the manifest's md5s,
//! and the scoring that routes each row to its group's model.
//!
//! Rows are split by their group with each group's rows kept in input order, so a group's
//! windows are built from its own consecutive rows (a request may interleave machines); each
//! group is scored by its member exactly as that model scores a frame of those rows alone, and
//! the scores go back to the input's order. A group without a member goes to the fallback model
//! (trained on every row) when the set has one, and is otherwise an error naming it.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::artifact::{METADATA_FILE, Model, ModelMetadata, WEIGHTS_FILE, md5_hex, parse_versioned};
use crate::data::{Frame, Groups};
use crate::error::{ArtifactError, DataError};
use crate::explain::RowExplanation;
use crate::score::Scores;
use crate::set::{Member, SET_FILE, SET_FORMAT, SetManifest};

/// A model set, loaded and checked.
#[derive(Debug)]
pub struct ModelSet {
    pub manifest: SetManifest,
    /// In the manifest's `groups` order.
    members: Vec<Model>,
    fallback: Option<Model>,
    by_group: HashMap<String, usize>,
}

/// What a model directory or registry version holds: one model, or a model set whose rows are
/// routed by their group column.
// One per loaded model: the variants' sizes cost nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Artifact {
    Single(Model),
    Set(ModelSet),
}

impl Artifact {
    /// Loads the model or model set in `dir` (a set when it holds `set.json`).
    pub fn load(dir: &Path) -> Result<Artifact, ArtifactError> {
        if is_set_dir(dir) { ModelSet::load(dir).map(Artifact::Set) } else { Model::load(dir).map(Artifact::Single) }
    }

    /// Its name and version: the model's, or the set's manifest's.
    pub fn name_version(&self) -> (&str, &str) {
        match self {
            Artifact::Single(model) => (&model.meta.name, &model.meta.version),
            Artifact::Set(set) => (&set.manifest.name, &set.manifest.version),
        }
    }

    /// The metadata shown for it: the model's, or the set's reference model's (features, window
    /// and kind are the same for every member; thresholds are the members' own).
    pub fn meta(&self) -> &ModelMetadata {
        match self {
            Artifact::Single(model) => &model.meta,
            Artifact::Set(set) => &set.reference().meta,
        }
    }

    /// True when its scores can be explained by feature.
    pub fn explains(&self) -> bool {
        match self {
            Artifact::Single(model) => model.explains(),
            Artifact::Set(set) => set.explains(),
        }
    }

    /// The one model, unless this is a set.
    pub fn single(&self) -> Option<&Model> {
        match self {
            Artifact::Single(model) => Some(model),
            Artifact::Set(_) => None,
        }
    }

    /// The model that scores rows of `group` (a stream's source): the one model, or the set's
    /// member for it (or its fallback).
    pub fn model_for(&self, group: &str) -> Option<&Model> {
        match self {
            Artifact::Single(model) => Some(model),
            Artifact::Set(set) => set.model_for(group).map(|(model, _)| model),
        }
    }

    /// The set, if this is one.
    pub fn set(&self) -> Option<&ModelSet> {
        match self {
            Artifact::Single(_) => None,
            Artifact::Set(set) => Some(set),
        }
    }
}

/// How one group of an input was scored.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupScores {
    pub group: String,
    /// The version of the model that scored it (the member's, or the fallback's).
    pub version: String,
    /// True when the set has no member for this group and its fallback scored it.
    pub fallback: bool,
    pub threshold: f64,
    /// The group's rows in the input, ascending.
    pub rows: Vec<usize>,
    pub anomalies: usize,
}

/// The scores of an input routed by group, in the input's row order.
#[derive(Debug, Clone, PartialEq)]
pub struct SetScores {
    pub scores: Vec<f32>,
    /// Rows above their own group's threshold, ascending.
    pub anomalies: Vec<usize>,
    /// The input's groups, in the order they first appear.
    pub groups: Vec<GroupScores>,
}

/// The files of a set's members as read: (path relative to the set, bytes).
pub type PartFiles = Vec<(String, Vec<u8>)>;

impl SetScores {
    /// The scores as one [`Scores`] (its `threshold` NaN: each group has its own; `anomalies`
    /// are the rows above theirs) and how each group was scored.
    pub fn split(self) -> (Scores, Vec<GroupScores>) {
        (Scores { scores: self.scores, threshold: f64::NAN, anomalies: self.anomalies }, self.groups)
    }

    /// Each row's score divided by its group's threshold: 1.0 is every group's threshold, so
    /// rows scored by different models (whose scores have their own scales) rank together.
    pub fn relative(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.scores.len()];
        for g in &self.groups {
            for &row in &g.rows {
                out[row] = (f64::from(self.scores[row]) / g.threshold.max(f64::MIN_POSITIVE)) as f32;
            }
        }
        out
    }
}

/// Whether `dir` holds a model set rather than a single model.
pub fn is_set_dir(dir: &Path) -> bool {
    dir.join(SET_FILE).is_file()
}

impl ModelSet {
    /// Loads the set in `dir`.
    pub fn load(dir: &Path) -> Result<ModelSet, ArtifactError> {
        let manifest = read_manifest(dir)?;
        ModelSet::from_reader(&manifest, dir, &mut |rel| {
            let path = dir.join(rel);
            std::fs::read(&path).map_err(|source| ArtifactError::Io { path, source })
        })
    }

    /// Loads a set from its manifest's bytes, reading each member's files through `read` (given
    /// a path relative to the set, such as `groups/m01/metadata.json`): a directory or a
    /// registry's objects. `at` names the set in errors.
    pub fn from_reader(
        manifest: &[u8],
        at: &Path,
        read: &mut dyn FnMut(&str) -> Result<Vec<u8>, ArtifactError>,
    ) -> Result<ModelSet, ArtifactError> {
        let manifest_path = at.join(SET_FILE);
        let manifest = parse_manifest(manifest, &manifest_path)?;
        let inconsistent = |message: String| ArtifactError::Inconsistent { path: manifest_path.clone(), message };
        if let Some(part) = &manifest.part {
            return Err(inconsistent(format!(
                "this is a part of a model set ({part}), not a whole one: merge the parts with `model-creation \
                 merge-set` first"
            )));
        }
        let mut by_group = HashMap::new();
        let mut members = Vec::with_capacity(manifest.groups.len());
        for (i, member) in manifest.groups.iter().enumerate() {
            if by_group.insert(member.group.clone(), i).is_some() || member.group.is_empty() {
                return Err(inconsistent(format!("group {:?} is listed twice or empty", member.group)));
            }
            members.push(load_member(member, at, &manifest, read)?);
        }
        let fallback = match &manifest.fallback {
            Some(member) => Some(load_member(member, at, &manifest, read)?),
            None => None,
        };
        if members.is_empty() {
            return Err(inconsistent("the set has no member models".to_string()));
        }
        Ok(ModelSet { manifest, members, fallback, by_group })
    }

    /// Reads a set or a part of one (`train --shard`, `--group`) for merging: every member is
    /// checked as [`ModelSet::load`] checks it, and the files read are returned (each path
    /// relative to the set, with its bytes), so what is merged is what was checked. A part may
    /// have no members (a shard that owned no group).
    pub fn read_part(dir: &Path) -> Result<(SetManifest, PartFiles), ArtifactError> {
        let manifest = parse_manifest(&read_manifest(dir)?, &dir.join(SET_FILE))?;
        let mut files = Vec::new();
        let mut read = |rel: &str| {
            let path = dir.join(rel);
            let bytes = std::fs::read(&path).map_err(|source| ArtifactError::Io { path, source })?;
            files.push((rel.to_string(), bytes.clone()));
            Ok(bytes)
        };
        for member in manifest.groups.iter().chain(&manifest.fallback) {
            load_member(member, dir, &manifest, &mut read)?;
        }
        Ok((manifest, files))
    }

    /// The model that stands for the set where one model's metadata is shown (features, window,
    /// kind: the same for every member): the fallback, trained on every row, when there is one,
    /// otherwise the first member.
    pub fn reference(&self) -> &Model {
        self.fallback.as_ref().unwrap_or(&self.members[0])
    }

    /// The fallback model, if the set has one.
    pub fn fallback(&self) -> Option<&Model> {
        self.fallback.as_ref()
    }

    /// The members with their manifest entries, in the manifest's order.
    pub fn members(&self) -> impl Iterator<Item = (&Member, &Model)> {
        self.manifest.groups.iter().zip(&self.members)
    }

    /// The model that scores `group`'s rows and whether it is the fallback.
    pub fn model_for(&self, group: &str) -> Option<(&Model, bool)> {
        match self.by_group.get(group) {
            Some(&i) => Some((&self.members[i], false)),
            None => self.fallback.as_ref().map(|m| (m, true)),
        }
    }

    /// True when every member can explain its scores by feature.
    pub fn explains(&self) -> bool {
        self.members.iter().chain(&self.fallback).all(Model::explains)
    }

    /// Scores `frame` (the model's features in order) whose rows belong to `groups`, each group
    /// with its own model (see the module documentation). `source` names the input in errors,
    /// with the group added where one group is at fault.
    pub fn score(&self, frame: &Frame, groups: &Groups, source: &str) -> Result<SetScores, DataError> {
        let parts = self.route(groups, source)?;
        let mut scores = vec![0.0f32; frame.n_rows];
        let mut anomalies = Vec::new();
        let mut out = Vec::with_capacity(parts.len());
        for part in parts {
            let (model, fallback) = (part.model, part.fallback);
            let sub = rows_of(frame, &part.rows);
            let scored = model.score_frame(&sub, &format!("{source}, {}={:?}", groups.column, part.group))?;
            for (&row, &score) in part.rows.iter().zip(&scored.scores) {
                scores[row] = score;
            }
            anomalies.extend(scored.anomalies.iter().map(|&i| part.rows[i]));
            out.push(GroupScores {
                group: part.group.to_string(),
                version: model.meta.version.clone(),
                fallback,
                threshold: model.meta.threshold.value,
                anomalies: scored.anomalies.len(),
                rows: part.rows,
            });
        }
        anomalies.sort_unstable();
        Ok(SetScores { scores, anomalies, groups: out })
    }

    /// The `top` largest feature shares of each row in `rows` (ascending input rows, as scored
    /// by [`ModelSet::score`]), each by its own group's model; `None` when a model involved
    /// cannot explain.
    pub fn explain(
        &self,
        frame: &Frame,
        groups: &Groups,
        rows: &[usize],
        top: usize,
    ) -> Result<Option<Vec<RowExplanation>>, DataError> {
        let mut out = Vec::with_capacity(rows.len());
        for part in self.route(groups, "")? {
            // The asked rows of this group, as indices into the group's own rows.
            let local: Vec<usize> =
                part.rows.iter().enumerate().filter(|(_, r)| rows.binary_search(r).is_ok()).map(|(i, _)| i).collect();
            if local.is_empty() {
                continue;
            }
            let sub = rows_of(frame, &part.rows);
            let Some(explained) = part.model.explain(&sub, &local, top) else { return Ok(None) };
            out.extend(explained.into_iter().map(|mut e| {
                e.row = part.rows[e.row];
                e
            }));
        }
        out.sort_by_key(|e| e.row);
        Ok(Some(out))
    }

    /// The input's groups in the order they first appear, each with its rows and its model.
    fn route<'s>(&'s self, groups: &'s Groups, source: &str) -> Result<Vec<Part<'s>>, DataError> {
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); groups.names.len()];
        for (row, &code) in groups.codes.iter().enumerate() {
            rows[code as usize].push(row);
        }
        groups
            .names
            .iter()
            .zip(rows)
            .map(|(name, rows)| match self.model_for(name) {
                Some((model, fallback)) => Ok(Part { group: name, rows, model, fallback }),
                None => Err(DataError::UnknownGroup {
                    input: source.to_string(),
                    column: groups.column.clone(),
                    group: name.clone(),
                    row: rows.first().copied().unwrap_or(0),
                    known: self.manifest.groups.iter().map(|m| m.group.clone()).collect(),
                }),
            })
            .collect()
    }
}

/// One group of an input and the model that scores it.
struct Part<'s> {
    group: &'s str,
    rows: Vec<usize>,
    model: &'s Model,
    fallback: bool,
}

/// The rows `rows` of `frame`, in that order.
fn rows_of(frame: &Frame, rows: &[usize]) -> Frame {
    let d = frame.n_cols();
    let mut values = Vec::with_capacity(rows.len() * d);
    for &r in rows {
        values.extend_from_slice(&frame.values[r * d..(r + 1) * d]);
    }
    Frame { columns: frame.columns.clone(), n_rows: rows.len(), values }
}

fn parse_manifest(bytes: &[u8], path: &Path) -> Result<SetManifest, ArtifactError> {
    parse_versioned(bytes, path, "set_format", SET_FORMAT, SET_FORMAT)
}

/// The bytes of `dir`'s `set.json`; a missing one is [`ArtifactError::MissingFile`].
fn read_manifest(dir: &Path) -> Result<Vec<u8>, ArtifactError> {
    let path = dir.join(SET_FILE);
    std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ArtifactError::MissingFile { dir: dir.to_path_buf(), file: SET_FILE },
        _ => ArtifactError::Io { path, source },
    })
}

/// Loads one member through `read`, checking its files against the manifest's md5s and its
/// features and window against the set's.
fn load_member(
    member: &Member,
    at: &Path,
    manifest: &SetManifest,
    read: &mut dyn FnMut(&str) -> Result<Vec<u8>, ArtifactError>,
) -> Result<Model, ArtifactError> {
    let what = if member.group.is_empty() { "the fallback".to_string() } else { format!("group {:?}", member.group) };
    let inconsistent = |message: String| ArtifactError::Inconsistent { path: at.join(SET_FILE), message };
    let rel = Path::new(&member.dir);
    if member.dir.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(inconsistent(format!("{what}: directory {:?} is not a path inside the set", member.dir)));
    }
    let dir: PathBuf = at.join(rel);
    let metadata = read(&format!("{}/{METADATA_FILE}", member.dir))?;
    let weights = read(&format!("{}/{WEIGHTS_FILE}", member.dir))?;
    let md5 = md5_hex(&metadata);
    if md5 != member.metadata_md5 {
        return Err(inconsistent(format!(
            "{what}: {}/{METADATA_FILE} has md5 {md5}, the set records {}; the file was changed or replaced",
            member.dir, member.metadata_md5
        )));
    }
    let model = Model::from_bytes(&metadata, &weights, &dir)?;
    if model.meta.weights_md5 != member.weights_md5 {
        return Err(inconsistent(format!(
            "{what}: its weights have md5 {}, the set records {}",
            model.meta.weights_md5, member.weights_md5
        )));
    }
    if model.meta.features != manifest.features {
        return Err(inconsistent(format!(
            "{what}: its features {:?} are not the set's {:?}",
            model.meta.features, manifest.features
        )));
    }
    Ok(model)
}
