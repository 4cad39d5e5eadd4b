//! `merge-set`: joins the parts of a model set that an Indexed Job's pods trained apart
//! (`train --shard i/n`, `train --group G`) into one whole set, the same byte for byte as the
//! set one `train` run over every group writes.
//!
//! Every part is checked member by member (md5s, features) before anything is written; the
//! parts must come from the same table and settings; a group trained by two parts must be the
//! same model in both; shard parts must cover every shard of their count. The merged set is
//! written whole or not at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use model_core::ModelSet;
use model_core::set::{Member, SET_FILE, SetManifest, SkippedGroup, set_version};

use crate::shard::Shard;

/// What a merge wrote.
#[derive(Debug)]
pub struct Merged {
    pub manifest: SetManifest,
    pub parts: usize,
}

/// One part to merge: where it is read from, and the name errors give it (its directory, or
/// the URL it was downloaded from).
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub dir: PathBuf,
}

/// Merges the sets (or parts) in `parts` into `out` (replaced whole).
pub fn merge(parts: &[Part], out: &Path) -> Result<Merged> {
    if parts.is_empty() {
        bail!("no parts to merge: give the directories `train --shard i/n` wrote");
    }
    let mut read = Vec::with_capacity(parts.len());
    for part in parts {
        let (manifest, files) =
            ModelSet::read_part(&part.dir).with_context(|| format!("reading the part {}", part.name))?;
        read.push((part.name.as_str(), manifest, files));
    }
    let (first_dir, first, _) = &read[0];
    let mut groups: BTreeMap<String, (Member, &str)> = BTreeMap::new();
    let mut skipped: BTreeMap<String, SkippedGroup> = BTreeMap::new();
    let mut fallback: Option<(Member, &str)> = None;
    let mut shards: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &(dir, ref manifest, _) in &read {
        for (what, ours, theirs) in [
            ("name", &manifest.name, &first.name),
            ("group_by", &manifest.group_by, &first.group_by),
            ("data_md5 (the training table)", &manifest.data_md5, &first.data_md5),
            ("created_by", &manifest.created_by, &first.created_by),
        ] {
            if ours != theirs {
                bail!(
                    "{} has {what} {ours:?} but {} has {theirs:?}: parts of one set come from the same table, \
                     parameters and program",
                    dir,
                    first_dir
                );
            }
        }
        if manifest.features != first.features {
            bail!("{} and {} have different features", dir, first_dir);
        }
        if let Some(shard) = manifest.part.as_deref().and_then(|p| p.strip_prefix("shard ")) {
            let shard: Shard = shard.parse().map_err(|e| anyhow::anyhow!("{}: part \"shard {shard}\": {e}", dir))?;
            shards.entry(shard.count).or_default().push(shard.index);
        }
        for member in &manifest.groups {
            if let Some((seen, seen_dir)) = groups.get(&member.group) {
                if seen != member {
                    bail!(
                        "group {:?} was trained by both {} (model {}) and {} (model {}) with different results",
                        member.group,
                        seen_dir,
                        seen.version,
                        dir,
                        member.version
                    );
                }
                continue;
            }
            groups.insert(member.group.clone(), (member.clone(), dir));
        }
        if let Some(member) = &manifest.fallback {
            match &fallback {
                Some((seen, seen_dir)) if seen != member => bail!(
                    "{} and {} hold different fallback models ({} and {})",
                    seen_dir,
                    dir,
                    seen.version,
                    member.version
                ),
                Some(_) => {}
                None => fallback = Some((member.clone(), dir)),
            }
        }
        for s in &manifest.skipped {
            skipped.entry(s.group.clone()).or_insert_with(|| s.clone());
        }
    }
    for (count, indices) in &mut shards {
        indices.sort_unstable();
        indices.dedup();
        let missing: Vec<String> =
            (0..*count).filter(|i| !indices.contains(i)).map(|i| format!("{i}/{count}")).collect();
        if !missing.is_empty() {
            bail!(
                "shard {} of the set is missing (the parts hold {}): merge every shard's part",
                missing.join(", "),
                indices.iter().map(|i| format!("{i}/{count}")).collect::<Vec<_>>().join(", ")
            );
        }
    }
    if let Some(both) = skipped.keys().find(|g| groups.contains_key(*g)) {
        bail!("group {both:?} is skipped in one part and trained in another: the parts disagree on its rows");
    }
    if groups.is_empty() {
        bail!("the parts hold no group model: nothing to merge");
    }
    let members: Vec<Member> = groups.values().map(|(m, _)| m.clone()).collect();
    let manifest = SetManifest {
        set_format: first.set_format,
        name: first.name.clone(),
        version: set_version(&members),
        created_by: first.created_by.clone(),
        group_by: first.group_by.clone(),
        features: first.features.clone(),
        data_md5: first.data_md5.clone(),
        groups: members,
        fallback: fallback.map(|(m, _)| m),
        skipped: skipped.into_values().collect(),
        part: None,
    };
    let dir = atomic_file::AtomicDir::create(out).with_context(|| format!("creating {}", out.display()))?;
    // The files each part's check read, for the members this set keeps.
    let keep: Vec<&str> = manifest.groups.iter().chain(&manifest.fallback).map(|m| m.dir.as_str()).collect();
    let mut written = std::collections::HashSet::new();
    for (_, _, files) in &read {
        for (rel, bytes) in files {
            let member_dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
            if keep.contains(&member_dir) && written.insert(rel.clone()) {
                let path = dir.path().join(rel);
                atomic_file::write(&path, bytes, atomic_file::Durability::Durable)
                    .with_context(|| format!("writing {}", out.join(rel).display()))?;
            }
        }
    }
    let json = serde_json::to_vec_pretty(&manifest).context("encoding set.json")?;
    atomic_file::write(&dir.path().join(SET_FILE), &json, atomic_file::Durability::Durable)
        .with_context(|| format!("writing {}", out.join(SET_FILE).display()))?;
    dir.commit().with_context(|| format!("writing {}", out.display()))?;
    Ok(Merged { manifest, parts: parts.len() })
}
