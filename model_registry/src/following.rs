//! Aliases: reading (plain and conditional, for pollers), moving with history, rollback, and
//! resolving references to a version. Writes are last-writer-wins: the registry has no locks,
//! so two people moving one alias at the same moment keep the later one.

use std::collections::BTreeSet;

use bytes::Bytes;
use object_storage::{Conditional, StorageError};

use crate::DEFAULT_ALIAS;
use crate::alias::{AliasPoll, AliasRecord};
use crate::card::VersionCard;
use crate::error::RegistryError;
use crate::layout::{alias_key, aliases_prefix, check_name, parse_alias_key, timestamp};
use crate::refs::ModelRef;
use crate::registry::Registry;

impl Registry {
    /// The alias object, or `None` when the alias is not set.
    pub async fn get_alias(&self, name: &str, alias: &str) -> Result<Option<AliasRecord>, RegistryError> {
        check_name("model name", name)?;
        check_name("alias", alias)?;
        let key = alias_key(name, alias);
        match self.store.get(&key).await {
            Ok(bytes) => Ok(Some(AliasRecord::parse(&bytes, &self.describe(), &key, alias)?)),
            Err(StorageError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Conditional read for pollers: `etag` is the one of the last [`AliasPoll::Changed`]; while
    /// the alias object keeps it, the answer is [`AliasPoll::Unchanged`] and no body is
    /// transferred (S3 `If-None-Match`).
    pub async fn poll_alias(&self, name: &str, alias: &str, etag: Option<&str>) -> Result<AliasPoll, RegistryError> {
        check_name("model name", name)?;
        check_name("alias", alias)?;
        let key = alias_key(name, alias);
        Ok(match self.store.get_if_none_match(&key, etag).await? {
            Conditional::NotModified => AliasPoll::Unchanged,
            Conditional::Missing => AliasPoll::Missing,
            Conditional::Found { bytes, etag } => {
                AliasPoll::Changed { record: AliasRecord::parse(&bytes, &self.describe(), &key, alias)?, etag }
            }
        })
    }

    /// Points `alias` at `version` (which must exist); the version it named before goes onto
    /// its history (at most [`crate::HISTORY_LIMIT`] entries).
    pub async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        set_by: &str,
    ) -> Result<AliasRecord, RegistryError> {
        self.card(name, version).await?;
        let previous = self.get_alias(name, alias).await?;
        let now = timestamp(time::OffsetDateTime::now_utc());
        let record = AliasRecord::moved(previous, alias, version, now, set_by);
        self.write_alias(name, &record).await?;
        Ok(record)
    }

    /// Removes an alias; [`RegistryError::AliasNotFound`] when it is not set.
    pub async fn delete_alias(&self, name: &str, alias: &str) -> Result<(), RegistryError> {
        check_name("model name", name)?;
        check_name("alias", alias)?;
        let key = alias_key(name, alias);
        if !self.store.exists(&key).await? {
            return Err(self.alias_not_found(name, alias));
        }
        Ok(self.store.delete(&key).await?)
    }

    /// Moves `alias` back to the newest version of its history that still exists (and is not
    /// the current one); the entries it passes are used up, so rolling back twice goes back two
    /// steps.
    pub async fn rollback(&self, name: &str, alias: &str, set_by: &str) -> Result<AliasRecord, RegistryError> {
        let Some(current) = self.get_alias(name, alias).await? else {
            return Err(self.alias_not_found(name, alias));
        };
        for (i, entry) in current.history.iter().enumerate() {
            if entry.version == current.version {
                continue;
            }
            match self.card(name, &entry.version).await {
                Ok(_) => {
                    let record = AliasRecord {
                        alias: alias.to_string(),
                        version: entry.version.clone(),
                        set_at: timestamp(time::OffsetDateTime::now_utc()),
                        set_by: set_by.to_string(),
                        history: current.history[i + 1..].to_vec(),
                    };
                    self.write_alias(name, &record).await?;
                    return Ok(record);
                }
                // Deleted since (gc): skip to the one before.
                Err(RegistryError::VersionNotFound { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(RegistryError::NoHistory { registry: self.describe(), name: name.into(), alias: alias.into() })
    }

    /// The card of the version `r` names: `NAME` is `NAME@champion`. An alias naming a version
    /// that does not exist is an error naming the alias object.
    pub async fn resolve(&self, r: &ModelRef) -> Result<VersionCard, RegistryError> {
        let (name, alias) = match r {
            ModelRef::Version { name, version } => return self.card(name, version).await,
            ModelRef::Name(name) => (name.as_str(), DEFAULT_ALIAS),
            ModelRef::Alias { name, alias } => (name.as_str(), alias.as_str()),
        };
        let Some(record) = self.get_alias(name, alias).await? else {
            return Err(self.alias_not_found(name, alias));
        };
        match self.card(name, &record.version).await {
            Err(RegistryError::VersionNotFound { .. }) => Err(RegistryError::AliasTargetMissing {
                registry: self.describe(),
                key: alias_key(name, alias),
                version: record.version,
            }),
            other => other,
        }
    }

    /// Every alias of `name` with its record, sorted by alias.
    pub async fn aliases(&self, name: &str) -> Result<Vec<AliasRecord>, RegistryError> {
        check_name("model name", name)?;
        let keys = self.store.list(&aliases_prefix(name)).await?;
        let names: BTreeSet<&str> = keys.iter().filter_map(|k| parse_alias_key(name, k)).collect();
        let mut records = Vec::new();
        for alias in names {
            if let Some(r) = self.get_alias(name, alias).await? {
                records.push(r);
            }
        }
        Ok(records)
    }

    async fn write_alias(&self, name: &str, record: &AliasRecord) -> Result<(), RegistryError> {
        let key = alias_key(name, &record.alias);
        let json = serde_json::to_vec_pretty(record).map_err(|e| RegistryError::Corrupt {
            registry: self.describe(),
            key: key.clone(),
            message: format!("cannot serialize the alias: {e}"),
        })?;
        Ok(self.store.put_with_type(&key, Bytes::from(json), "application/json").await?)
    }

    fn alias_not_found(&self, name: &str, alias: &str) -> RegistryError {
        RegistryError::AliasNotFound {
            registry: self.describe(),
            name: name.into(),
            alias: alias.into(),
            key: alias_key(name, alias),
        }
    }
}
