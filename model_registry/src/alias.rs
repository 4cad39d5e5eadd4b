//! Alias objects, `<name>/aliases/<alias>.json`: the version an alias names, who set it and
//! when, and the versions it named before (newest first, bounded), which rollback walks back.

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// How many earlier versions an alias remembers.
pub const HISTORY_LIMIT: usize = 20;

/// An alias object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AliasRecord {
    pub alias: String,
    pub version: String,
    /// When it was set, RFC 3339 UTC.
    pub set_at: String,
    pub set_by: String,
    /// The versions it named before, newest first, at most [`HISTORY_LIMIT`].
    pub history: Vec<AliasHistoryEntry>,
}

/// A version an alias named before.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AliasHistoryEntry {
    pub version: String,
    pub set_at: String,
    pub set_by: String,
}

/// The answer to a conditional alias read ([`crate::Registry::poll_alias`]).
#[derive(Clone, Debug, PartialEq)]
pub enum AliasPoll {
    /// The alias object still has the ETag given: nothing was downloaded.
    Unchanged,
    /// The alias is not set.
    Missing,
    /// The alias is new or changed; `etag` goes with the next poll.
    Changed { record: AliasRecord, etag: Option<String> },
}

impl AliasRecord {
    /// Parses the alias object stored at `key`.
    pub(crate) fn parse(bytes: &[u8], registry: &str, key: &str, alias: &str) -> Result<AliasRecord, RegistryError> {
        let corrupt =
            |message: String| RegistryError::Corrupt { registry: registry.to_string(), key: key.to_string(), message };
        let record: AliasRecord =
            serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not an alias record: {e}")))?;
        if record.alias != alias {
            return Err(corrupt(format!("the record is for alias '{}', not '{alias}'", record.alias)));
        }
        if record.version.is_empty() {
            return Err(corrupt("\"version\" is empty".into()));
        }
        Ok(record)
    }

    /// The record after moving the alias to `version`: the current one goes onto the history.
    pub(crate) fn moved(
        previous: Option<AliasRecord>,
        alias: &str,
        version: &str,
        set_at: String,
        set_by: &str,
    ) -> Self {
        let mut history = Vec::new();
        if let Some(prev) = previous {
            history.push(AliasHistoryEntry { version: prev.version, set_at: prev.set_at, set_by: prev.set_by });
            history.extend(prev.history);
        }
        history.truncate(HISTORY_LIMIT);
        AliasRecord {
            alias: alias.to_string(),
            version: version.to_string(),
            set_at,
            set_by: set_by.to_string(),
            history,
        }
    }
}
