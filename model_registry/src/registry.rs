//! The registry handle: opening a root, publishing versions, and reading what versions exist.
//! Aliases are in `following`, downloads and garbage collection in `files`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use model_core::artifact::{WEIGHTS_FILE, md5_hex};
use model_core::set::SET_FILE;
use model_core::{Artifact, ModelSet};
use object_storage::{AwsEnv, S3Options, S3Settings, StorageError, Store};

use crate::card::{CARD_FORMAT, PublishInfo, SET_CARD_FORMAT, SetCard, SetCardGroup, VersionCard};
use crate::error::RegistryError;
use crate::layout::{
    CARD_FILE, card_key, check_name, file_key, new_version, parse_card_key, timestamp, versions_prefix,
};

/// A registry rooted at an S3 prefix or a local directory.
#[derive(Clone, Debug)]
pub struct Registry {
    pub(crate) store: Store,
}

impl Registry {
    /// A registry over an already opened store.
    pub fn from_store(store: Store) -> Registry {
        Registry { store }
    }

    /// Opens `s3://bucket/prefix` (endpoint, region and keys from the standard AWS variables,
    /// resolved by `object_storage` as everywhere else) or a local directory.
    pub fn open(root: &str) -> Result<Registry, RegistryError> {
        if root.trim().is_empty() {
            return Err(RegistryError::InvalidRoot {
                root: root.to_string(),
                reason: "it is empty; give s3://bucket/prefix or a directory".into(),
            });
        }
        if root.starts_with("s3://") {
            let opts = S3Options::resolve(root, &S3Settings::default(), &AwsEnv::from_process())?;
            return Ok(Registry::from_store(Store::s3(opts)?));
        }
        if let Some((scheme, _)) = root.split_once("://") {
            return Err(RegistryError::InvalidRoot {
                root: object_storage::redact_url(root),
                reason: format!("scheme '{scheme}' is not supported; give s3://bucket/prefix or a directory"),
            });
        }
        Ok(Registry::from_store(Store::local(root)))
    }

    /// Where the registry is, e.g. `s3://models/registry` or `/srv/registry`.
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// Publishes the model directory `model_dir` (checked to load first) as a new version of
    /// `name`: every file of the directory, then `card.json` last. Never overwrites a version.
    /// A model set's directory (`set.json`) is published as one version whose card lists its
    /// groups (with their metrics when `info.metrics` is a set's `evaluate` report).
    pub async fn publish(&self, name: &str, model_dir: &Path, info: PublishInfo) -> Result<VersionCard, RegistryError> {
        check_name("model name", name)?;
        let dir = model_dir.to_path_buf();
        let (artifact, checksum, files) = tokio::task::spawn_blocking(move || -> Result<_, RegistryError> {
            let artifact = Artifact::load(&dir).map_err(|source| RegistryError::Model { path: dir.clone(), source })?;
            // The card's checksum: the weights' md5, or for a set its manifest's (which records
            // every member's md5s).
            let checksum = match &artifact {
                Artifact::Single(model) => model.meta.weights_md5.clone(),
                Artifact::Set(_) => {
                    let path = dir.join(SET_FILE);
                    md5_hex(&std::fs::read(&path).map_err(|e| io_err("reading", &path, e))?)
                }
            };
            let mut files = Vec::new();
            list_files(&dir, &dir, &mut files)?;
            Ok((artifact, checksum, files))
        })
        .await
        .map_err(|e| io_err("reading", model_dir, std::io::Error::other(e)))??;
        let now = time::OffsetDateTime::now_utc();
        let (format, set) = match &artifact {
            Artifact::Single(_) => (CARD_FORMAT, None),
            Artifact::Set(set) => (SET_CARD_FORMAT, Some(set_card(set, info.metrics.as_ref()))),
        };
        let meta = artifact.meta();
        let version = new_version(now, &checksum);
        let card_at = card_key(name, &version);
        if self.store.exists(&card_at).await? {
            return Err(RegistryError::VersionExists { registry: self.describe(), name: name.into(), version });
        }
        // The weights (a set: its members) first, the card last: a reader sees the version only
        // once it is whole.
        let first = |rel: &str| rel == WEIGHTS_FILE || (set.is_some() && rel != SET_FILE);
        let mut ordered: Vec<&(String, PathBuf)> = files.iter().filter(|(rel, _)| first(rel)).collect();
        ordered.extend(files.iter().filter(|(rel, _)| !first(rel)));
        for (rel, path) in ordered {
            self.store.put_file(&file_key(name, &version, rel), path).await?;
        }
        let card = VersionCard {
            format,
            name: name.to_string(),
            version,
            created: timestamp(now),
            published_by: info.published_by,
            weights_md5: checksum,
            files: files.into_iter().map(|(rel, _)| rel).collect(),
            features: meta.features.clone(),
            data_md5: meta.training.data_md5.clone(),
            params: meta.training.params.clone(),
            dvc_lock_md5: info.dvc_lock_md5,
            git_commit: info.git_commit,
            metrics: info.metrics,
            metrics_data: info.metrics_data,
            set,
        };
        let json = serde_json::to_vec_pretty(&card).map_err(|e| RegistryError::Corrupt {
            registry: self.describe(),
            key: card_at.clone(),
            message: format!("cannot serialize the card: {e}"),
        })?;
        self.store.put_with_type(&card_at, Bytes::from(json), "application/json").await?;
        Ok(card)
    }

    /// The registered model names (those with at least one complete version), sorted.
    pub async fn names(&self) -> Result<Vec<String>, RegistryError> {
        let keys = self.store.list("").await?;
        let names: BTreeSet<&str> = keys.iter().filter_map(|k| parse_card_key(k)).map(|(n, _)| n).collect();
        Ok(names.into_iter().map(str::to_string).collect())
    }

    /// The versions of `name` that have a card, oldest first.
    pub async fn versions(&self, name: &str) -> Result<Vec<VersionCard>, RegistryError> {
        let mut cards = Vec::new();
        for version in self.version_ids(name).await? {
            cards.push(self.card(name, &version).await?);
        }
        Ok(cards)
    }

    /// The version ids of `name` that have a card, oldest first (without reading the cards).
    pub(crate) async fn version_ids(&self, name: &str) -> Result<Vec<String>, RegistryError> {
        check_name("model name", name)?;
        let keys = self.store.list(&versions_prefix(name)).await?;
        let mut versions: Vec<String> = keys
            .iter()
            .filter_map(|k| parse_card_key(k))
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
            .collect();
        versions.sort();
        Ok(versions)
    }

    /// The card of `name:version`; [`RegistryError::VersionNotFound`] when it has none.
    pub async fn card(&self, name: &str, version: &str) -> Result<VersionCard, RegistryError> {
        check_name("model name", name)?;
        check_name("version", version)?;
        let key = card_key(name, version);
        match self.store.get(&key).await {
            Ok(bytes) => VersionCard::parse(&bytes, &self.describe(), &key, name, version),
            Err(StorageError::NotFound { .. }) => Err(RegistryError::VersionNotFound {
                registry: self.describe(),
                name: name.into(),
                version: version.into(),
                key,
            }),
            Err(e) => Err(e.into()),
        }
    }
}

/// The set part of a set's card; each group's metrics come from `metrics.groups.<value>`.
fn set_card(set: &ModelSet, metrics: Option<&serde_json::Value>) -> SetCard {
    let m = &set.manifest;
    SetCard {
        group_by: m.group_by.clone(),
        set_version: m.version.clone(),
        groups: m
            .groups
            .iter()
            .map(|g| SetCardGroup {
                group: g.group.clone(),
                version: g.version.clone(),
                threshold: g.threshold,
                rows: g.rows,
                metrics: metrics.and_then(|v| v.get("groups")).and_then(|v| v.get(&g.group)).cloned(),
            })
            .collect(),
        fallback: m.fallback.as_ref().map(|f| f.version.clone()),
        skipped: m.skipped.iter().map(|s| s.group.clone()).collect(),
    }
}

pub(crate) fn io_err(op: &'static str, path: &Path, source: std::io::Error) -> RegistryError {
    RegistryError::Io { op, path: path.to_path_buf(), source }
}

/// Every file below `dir` as (`/`-separated path relative to `root`, path), sorted; temporary
/// files of interrupted writes and a stray `card.json` at the top are left out.
fn list_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), RegistryError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_err("listing", dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err("listing", dir, e))?;
        paths.push((entry.path(), entry.file_type().map_err(|e| io_err("listing", &entry.path(), e))?));
    }
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in paths {
        let Some(file_name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        if kind.is_dir() {
            list_files(root, &path, out)?;
        } else if kind.is_file() && !atomic_file::is_temp_name(&file_name) {
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            if rel != CARD_FILE {
                out.push((rel, path));
            }
        }
    }
    Ok(())
}
