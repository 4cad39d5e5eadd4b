//! `card.json`: what a version is (who published it, from which data and parameters, with which
//! evaluation metrics) and the checksum its weights must have.

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// The card format this crate writes and reads.
pub const CARD_FORMAT: u32 = 1;

/// A version's card, `<name>/versions/<version>/card.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct VersionCard {
    /// [`CARD_FORMAT`].
    pub format: u32,
    pub name: String,
    pub version: String,
    /// When it was published, RFC 3339 UTC.
    pub created: String,
    /// Who published it (`user@host`, or `MODEL_PUBLISHED_BY`).
    pub published_by: String,
    /// md5 of `weights.safetensors`, checked on every download.
    pub weights_md5: String,
    /// The files of the version besides `card.json`, relative to its prefix.
    pub files: Vec<String>,
    /// The model's input features, in order.
    pub features: Vec<String>,
    /// md5 of the training data (from the model's metadata.json).
    pub data_md5: String,
    /// The training parameters (from the model's metadata.json).
    pub params: serde_json::Value,
    /// md5 of the `dvc.lock` the model was produced under, when there was one.
    pub dvc_lock_md5: Option<String>,
    /// The git commit (`GIT_COMMIT`) the model was trained from, when known.
    pub git_commit: Option<String>,
    /// Evaluation metrics given at publication (`--metrics FILE`).
    pub metrics: Option<serde_json::Value>,
    /// What the metrics were measured on (the metrics file, or the data it names).
    pub metrics_data: Option<String>,
}

/// What the publisher says about a new version; the rest of the card comes from the model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PublishInfo {
    pub published_by: String,
    pub git_commit: Option<String>,
    pub metrics: Option<serde_json::Value>,
    pub metrics_data: Option<String>,
    pub dvc_lock_md5: Option<String>,
}

impl VersionCard {
    /// Parses the card stored at `key`, checking it belongs there.
    pub(crate) fn parse(
        bytes: &[u8],
        registry: &str,
        key: &str,
        name: &str,
        version: &str,
    ) -> Result<VersionCard, RegistryError> {
        let corrupt =
            |message: String| RegistryError::Corrupt { registry: registry.to_string(), key: key.to_string(), message };
        let card: VersionCard =
            serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not a version card: {e}")))?;
        if card.format != CARD_FORMAT {
            return Err(corrupt(format!(
                "card format {} is not supported (this program reads {CARD_FORMAT})",
                card.format
            )));
        }
        if card.name != name || card.version != version {
            return Err(corrupt(format!(
                "the card describes {}:{}, but lies under {name}:{version}",
                card.name, card.version
            )));
        }
        Ok(card)
    }
}
