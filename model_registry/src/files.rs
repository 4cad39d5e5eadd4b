//! Downloads (verified against the card's checksum) and garbage collection of versions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use atomic_file::{AtomicDir, Durability};
use bytes::Bytes;
use model_core::artifact::{METADATA_FILE, WEIGHTS_FILE, md5_hex};
use model_core::set::SET_FILE;
use model_core::{Artifact, ArtifactError, Model, ModelSet};

use crate::card::VersionCard;
use crate::error::RegistryError;
use crate::layout::{CARD_FILE, card_key, file_key, version_prefix};
use crate::registry::{Registry, io_err};

/// A downloaded version: its card and the two files a model is loaded from.
#[derive(Clone, Debug)]
pub struct ModelFiles {
    pub card: VersionCard,
    pub metadata: Bytes,
    pub weights: Bytes,
}

/// A downloaded model set: its card and every file of the set (`set.json` and each member's),
/// by path relative to the set.
#[derive(Clone, Debug)]
pub struct SetFiles {
    pub card: VersionCard,
    pub files: BTreeMap<String, Bytes>,
}

impl SetFiles {
    /// Loads the set, checking every member against `set.json` (whose md5 the card records).
    pub fn load(&self, at: &Path) -> Result<ModelSet, ArtifactError> {
        let manifest = self.files.get(SET_FILE).cloned().unwrap_or_default();
        ModelSet::from_reader(&manifest, at, &mut |rel| match self.files.get(rel) {
            Some(bytes) => Ok(bytes.to_vec()),
            None => Err(ArtifactError::Inconsistent {
                path: at.join(SET_FILE),
                message: format!("{rel} is a member's file but not one of the version's files"),
            }),
        })
    }
}

/// A downloaded version of either kind.
#[derive(Clone, Debug)]
pub enum VersionFiles {
    Model(ModelFiles),
    Set(SetFiles),
}

impl VersionFiles {
    /// Loads the model or set, checked (`at` names it in errors).
    pub fn load(&self, at: &Path) -> Result<Artifact, ArtifactError> {
        match self {
            VersionFiles::Model(files) => Model::from_bytes(&files.metadata, &files.weights, at).map(Artifact::Single),
            VersionFiles::Set(files) => files.load(at).map(Artifact::Set),
        }
    }

    pub fn card(&self) -> &VersionCard {
        match self {
            VersionFiles::Model(m) => &m.card,
            VersionFiles::Set(s) => &s.card,
        }
    }
}

impl Registry {
    /// Downloads `name:version`'s card, metadata and weights; the weights must have the md5 the
    /// card records ([`RegistryError::Checksum`] naming the object otherwise). A model set is
    /// [`RegistryError::IsModelSet`]: see [`Registry::fetch_version`].
    pub async fn fetch(&self, name: &str, version: &str) -> Result<ModelFiles, RegistryError> {
        match self.fetch_version(name, version).await? {
            VersionFiles::Model(files) => Ok(files),
            VersionFiles::Set(set) => Err(RegistryError::IsModelSet {
                registry: self.describe(),
                name: name.into(),
                version: version.into(),
                group_by: set.card.set.map(|s| s.group_by).unwrap_or_default(),
                needed: "this needs a single model",
            }),
        }
    }

    /// Downloads `name:version`, a single model or a model set, checked against its card: a
    /// model's weights, or a set's `set.json` (the members are checked against it when loaded).
    pub async fn fetch_version(&self, name: &str, version: &str) -> Result<VersionFiles, RegistryError> {
        let card = self.card(name, version).await?;
        let checked = |key: String, bytes: &Bytes, expected: &str| {
            let found = md5_hex(bytes);
            if found == expected {
                Ok(())
            } else {
                Err(RegistryError::Checksum { registry: self.describe(), key, expected: expected.to_string(), found })
            }
        };
        if card.set.is_some() {
            let keys: Vec<String> = card.files.iter().map(|rel| file_key(name, version, rel)).collect();
            let mut files = BTreeMap::new();
            for ((rel, key), bytes) in card.files.iter().zip(keys.iter()).zip(self.store.get_many(&keys).await?) {
                if rel == SET_FILE {
                    checked(key.clone(), &bytes, &card.weights_md5)?;
                }
                files.insert(rel.clone(), bytes);
            }
            if !files.contains_key(SET_FILE) {
                return Err(RegistryError::Corrupt {
                    registry: self.describe(),
                    key: card_key(name, version),
                    message: format!("a model set's card does not list {SET_FILE}"),
                });
            }
            return Ok(VersionFiles::Set(SetFiles { card, files }));
        }
        let metadata = self.store.get(&file_key(name, version, METADATA_FILE)).await?;
        let weights_key = file_key(name, version, WEIGHTS_FILE);
        let weights = self.store.get(&weights_key).await?;
        checked(weights_key, &weights, &card.weights_md5)?;
        Ok(VersionFiles::Model(ModelFiles { card, metadata, weights }))
    }

    /// Downloads `name:version` into the directory `out` (replaced atomically, with the card
    /// beside the model's or set's files), after checking the checksums and that it loads.
    pub async fn pull(&self, name: &str, version: &str, out: &Path) -> Result<VersionCard, RegistryError> {
        let fetched = self.fetch_version(name, version).await?;
        let out = out.to_path_buf();
        let dest = out.clone();
        tokio::task::spawn_blocking(move || {
            let model = |source| RegistryError::Model { path: out.clone(), source };
            let (card, files): (VersionCard, Vec<(String, Bytes)>) = match fetched {
                VersionFiles::Model(files) => {
                    Model::from_bytes(&files.metadata, &files.weights, &out).map_err(model)?;
                    let pairs =
                        vec![(WEIGHTS_FILE.to_string(), files.weights), (METADATA_FILE.to_string(), files.metadata)];
                    (files.card, pairs)
                }
                VersionFiles::Set(set) => {
                    set.load(&out).map_err(model)?;
                    (set.card, set.files.into_iter().collect())
                }
            };
            let card_json = serde_json::to_vec_pretty(&card).map_err(|e| io_err("writing", &out, e.into()))?;
            let dir = AtomicDir::create(&out).map_err(|e| io_err("creating", &out, e))?;
            for (file, bytes) in files.iter().map(|(f, b)| (f.as_str(), &b[..])).chain([(CARD_FILE, &card_json[..])]) {
                let path = dir.path().join(file);
                atomic_file::write(&path, bytes, Durability::Durable)
                    .map_err(|e| io_err("writing", &out.join(file), e))?;
            }
            dir.commit().map_err(|e| io_err("writing", &out, e))?;
            Ok(card)
        })
        .await
        .map_err(|e| io_err("writing", &dest, std::io::Error::other(e)))?
    }

    /// Deletes the versions of `name` older than the newest `keep` that no alias names (with
    /// `dry_run`, only lists them); returns them, oldest first. Each version's card goes first,
    /// so one half deleted is already invisible.
    pub async fn gc(&self, name: &str, keep: usize, dry_run: bool) -> Result<Vec<String>, RegistryError> {
        let versions = self.version_ids(name).await?;
        let aliased: BTreeSet<String> = self.aliases(name).await?.into_iter().map(|a| a.version).collect();
        let old = versions.len().saturating_sub(keep);
        let doomed: Vec<String> = versions.into_iter().take(old).filter(|v| !aliased.contains(v)).collect();
        if dry_run {
            return Ok(doomed);
        }
        for version in &doomed {
            self.store.delete(&card_key(name, version)).await?;
            for key in self.store.list(&version_prefix(name, version)).await? {
                self.store.delete(&key).await?;
            }
        }
        Ok(doomed)
    }
}
