//! A model registry on S3 (`s3://bucket/prefix`) or a local directory, through
//! `object_storage` (one code path for both), with no server of its own.
//!
//! Layout (see docs/registry.md): `<name>/versions/<version>/` holds the model directory's
//! files plus `card.json`, written last, so a version without its card is invisible;
//! `<name>/aliases/<alias>.json` names a version, who set it and when, with a bounded history.
//! Versions are UTC time stamps plus a short weights hash: immutable, unique without
//! coordination, and sorting in creation order.
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod alias;
mod card;
mod error;
mod files;
mod following;
mod layout;
mod refs;
mod registry;

pub use alias::{AliasHistoryEntry, AliasPoll, AliasRecord, HISTORY_LIMIT};
pub use card::{CARD_FORMAT, PublishInfo, SET_CARD_FORMAT, SetCard, SetCardGroup, VersionCard};
pub use error::RegistryError;
pub use files::{ModelFiles, SetFiles, VersionFiles};
pub use layout::{CARD_FILE, check_name};
pub use refs::ModelRef;
pub use registry::Registry;

/// The alias a bare model name resolves to, and the one serving follows by default.
pub const DEFAULT_ALIAS: &str = "champion";
