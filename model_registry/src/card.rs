//! `card.json`: what a version is (who published it, from which data and parameters, with which
//! evaluation metrics) and the checksum its weights must have.

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// The card format of a single model's version.
pub const CARD_FORMAT: u32 = 1;
/// The card format of a model set's version (one with [`VersionCard::set`]): a program that
/// reads only format 1 refuses it by its format instead of looking for weights it lacks.
pub const SET_CARD_FORMAT: u32 = 2;

/// A version's card, `<name>/versions/<version>/card.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct VersionCard {
    /// [`CARD_FORMAT`], or [`SET_CARD_FORMAT`] for a model set.
    pub format: u32,
    pub name: String,
    pub version: String,
    /// When it was published, RFC 3339 UTC.
    pub created: String,
    /// Who published it (`user@host`, or `MODEL_PUBLISHED_BY`).
    pub published_by: String,
    /// md5 of `weights.safetensors`, checked on every download; for a model set, md5 of its
    /// `set.json` (which records every member's md5s, each checked in turn).
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
    /// For a model set: its groups, each member's model and metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<SetCard>,
}

/// What a set card says about the set: the set card lists the groups and their metrics.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SetCard {
    /// The column whose value picks a row's model.
    pub group_by: String,
    /// The set's own version (from its members', in `set.json`).
    pub set_version: String,
    pub groups: Vec<SetCardGroup>,
    /// The fallback model's version, when the set has one (it scores unknown groups).
    pub fallback: Option<String>,
    /// Groups left out for too few rows.
    pub skipped: Vec<String>,
}

/// One group of a set card.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SetCardGroup {
    pub group: String,
    /// The member model's version.
    pub version: String,
    pub threshold: f64,
    /// Training rows.
    pub rows: usize,
    /// The group's evaluation metrics, from the metrics given at publication (`groups.<value>`
    /// of `evaluate`'s metrics.json for a set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<serde_json::Value>,
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
        let expected = if card.set.is_some() { SET_CARD_FORMAT } else { CARD_FORMAT };
        if card.format != expected {
            return Err(corrupt(format!(
                "card format {} is not supported (this program reads {CARD_FORMAT} for a model, \
                 {SET_CARD_FORMAT} for a model set)",
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
