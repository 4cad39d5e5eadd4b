//! Downloads (verified against the card's checksum) and garbage collection of versions.

use std::collections::BTreeSet;
use std::path::Path;

use atomic_file::{AtomicDir, Durability};
use bytes::Bytes;
use model_core::Model;
use model_core::artifact::{METADATA_FILE, WEIGHTS_FILE, md5_hex};

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

impl Registry {
    /// Downloads `name:version`'s card, metadata and weights; the weights must have the md5 the
    /// card records ([`RegistryError::Checksum`] naming the object otherwise).
    pub async fn fetch(&self, name: &str, version: &str) -> Result<ModelFiles, RegistryError> {
        let card = self.card(name, version).await?;
        let metadata = self.store.get(&file_key(name, version, METADATA_FILE)).await?;
        let weights_key = file_key(name, version, WEIGHTS_FILE);
        let weights = self.store.get(&weights_key).await?;
        let found = md5_hex(&weights);
        if found != card.weights_md5 {
            return Err(RegistryError::Checksum {
                registry: self.describe(),
                key: weights_key,
                expected: card.weights_md5,
                found,
            });
        }
        Ok(ModelFiles { card, metadata, weights })
    }

    /// Downloads `name:version` into the model directory `out` (replaced atomically, with the
    /// card beside the model files), after checking the checksum and that the model loads.
    pub async fn pull(&self, name: &str, version: &str, out: &Path) -> Result<VersionCard, RegistryError> {
        let files = self.fetch(name, version).await?;
        let out = out.to_path_buf();
        let dest = out.clone();
        tokio::task::spawn_blocking(move || {
            Model::from_bytes(&files.metadata, &files.weights, &out)
                .map_err(|source| RegistryError::Model { path: out.clone(), source })?;
            let card = serde_json::to_vec_pretty(&files.card).map_err(|e| io_err("writing", &out, e.into()))?;
            let dir = AtomicDir::create(&out).map_err(|e| io_err("creating", &out, e))?;
            for (file, bytes) in
                [(WEIGHTS_FILE, &files.weights[..]), (METADATA_FILE, &files.metadata[..]), (CARD_FILE, &card[..])]
            {
                let path = dir.path().join(file);
                atomic_file::write(&path, bytes, Durability::Durable)
                    .map_err(|e| io_err("writing", &out.join(file), e))?;
            }
            dir.commit().map_err(|e| io_err("writing", &out, e))?;
            Ok(files.card)
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
