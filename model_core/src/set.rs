//! Model sets: one model per group (a machine, a site) trained from one table by its group
//! column, stored as one directory: `set.json` (this manifest) beside `groups/<dir>/` (and
//! `fallback/`, a model of every row, when trained), each an ordinary model directory.
//!
//! The manifest maps each group's value to its directory, so names are never parsed back, and
//! records each member's md5s, so a set is checked member by member when it is loaded.

use serde::{Deserialize, Serialize};

/// The manifest's file name in a set directory.
pub const SET_FILE: &str = "set.json";
/// The manifest format this code writes and reads.
pub const SET_FORMAT: u32 = 1;

/// `set.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetManifest {
    pub set_format: u32,
    pub name: String,
    /// md5 of the members' versions (first 12 hex digits), as single models are named.
    pub version: String,
    /// The program that wrote it, e.g. "model_creation 0.1.0".
    pub created_by: String,
    /// The column whose values choose the member.
    pub group_by: String,
    /// Every member's features, in order (they are the same for all).
    pub features: Vec<String>,
    /// md5 of the training table.
    pub data_md5: String,
    /// The members, sorted by group value.
    pub groups: Vec<Member>,
    /// The model trained on every row, for groups without a member.
    pub fallback: Option<Member>,
    /// Groups that had too few rows to train.
    pub skipped: Vec<SkippedGroup>,
    /// When only some groups were trained (`--group`, `--shard i/n`), which: such a set is a
    /// part, to be merged with the others' before it is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
}

/// One member model of a set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The group value (empty for the fallback).
    pub group: String,
    /// Its directory, relative to the set's.
    pub dir: String,
    /// Training rows.
    pub rows: usize,
    /// The member's own model version.
    pub version: String,
    pub threshold: f64,
    pub weights_md5: String,
    pub metadata_md5: String,
}

/// A group left out of a set, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedGroup {
    pub group: String,
    pub rows: usize,
    pub reason: String,
}

/// A set's version: the first 12 hex digits of the md5 of its members' `group\tversion` lines
/// (in the manifest's order, sorted by group), so the same members make the same version
/// however they were trained (one run, or the parts of an Indexed Job merged).
pub fn set_version(members: &[Member]) -> String {
    let lines: String = members.iter().map(|m| format!("{}\t{}\n", m.group, m.version)).collect();
    crate::artifact::md5_hex(lines.as_bytes())[..12].to_string()
}

/// The directory name of a group: the value itself when it is a plain lowercase name
/// (`[a-z0-9_.-]`, 1 to 64 characters, not starting with a dot), otherwise a slug of it with
/// eight hex digits of its FNV-1a hash (so `M1` and `m1`, `a/b` and `a-b` never share one, on
/// any file system). Decided from the value alone, so separate processes agree.
pub fn group_dir(value: &str) -> String {
    let plain = (1..=64).contains(&value.len())
        && !value.starts_with('.')
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if plain {
        return value.to_string();
    }
    let hash = crate::stable_hash::fnv1a(value.as_bytes());
    let slug: String = value
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|run| !run.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = slug.chars().take(40).collect();
    format!("g-{slug}-{:08x}", hash as u32)
}

#[cfg(test)]
mod tests {
    use super::group_dir;

    #[test]
    fn group_directories_are_safe_and_distinct() {
        assert_eq!(group_dir("m01"), "m01");
        assert_eq!(group_dir("site_3.b-2"), "site_3.b-2");
        let odd = ["M1", "m1 ", "Pump 3/B", "..", "", "ü", "a/b", "a-b/", ".hidden"];
        let dirs: Vec<String> = odd.iter().map(|v| group_dir(v)).collect();
        for (v, d) in odd.iter().zip(&dirs) {
            assert!(d.starts_with("g-") && !d.contains('/') && !d.contains(".."), "{v:?} -> {d}");
        }
        let mut unique = dirs.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), dirs.len(), "{dirs:?}");
        assert_ne!(group_dir("M1"), group_dir("m1"));
        assert_eq!(group_dir("Pump 3/B"), group_dir("Pump 3/B"), "stable");
    }
}
