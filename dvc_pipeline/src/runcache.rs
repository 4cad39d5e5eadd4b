//! Run-cache: every lock entry ever produced, stored as YAML under
//! `.dvc/cache/runs/<2>/<key>/<value>` with dvc's own key and value hashes, so runs recorded by
//! this tool are found by dvc and the other way round. When a stage's inputs match a stored run
//! whose outputs are still cached, repro restores the outputs instead of running the command.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use atomic_file::Durability;

use crate::checksum::hex;
use crate::error::Result;
use crate::lock::LockStage;
use crate::pyjson;
use crate::repo::write_file;
use crate::yaml::{self, Node, Value};

/// Keys dvc leaves out of the dicts it hashes (`Meta.PARAM_SIZE`, `Meta.PARAM_NFILES`).
const NOT_HASHED: [&str; 2] = ["size", "nfiles"];

/// dvc's `_get_cache_hash`: sha256 of `json.dumps(entry, sort_keys=True)` without sizes.
fn entry_hash(entry: &Node) -> String {
    hex(&Sha256::digest(pyjson::dumps_sorted(entry, &NOT_HASHED).as_bytes()))
}

/// The run's key, as dvc's `_get_stage_hash`: the lock entry with its outs reduced to their
/// paths, so runs with the same cmd, deps and params share a directory.
fn key(entry: &LockStage) -> String {
    let mut sorted = entry.clone();
    sorted.deps.sort_by(|a, b| a.path.cmp(&b.path));
    sorted.outs.sort_by(|a, b| a.path.cmp(&b.path));
    let mut node = sorted.to_node();
    if let Value::Map(fields) = &mut node.value {
        for (name, value) in fields.iter_mut() {
            if name == "outs" {
                let paths = sorted.outs.iter().map(|o| Node::str(o.path.clone())).collect();
                *value = Node::new(Value::Seq(paths));
            }
        }
    }
    entry_hash(&node)
}

fn dir_for(cache_dir: &Path, k: &str) -> PathBuf {
    cache_dir.join("runs").join(&k[..2]).join(k)
}

/// Records a finished run.
pub(crate) fn save(cache_dir: &Path, entry: &LockStage) -> Result<()> {
    let k = key(entry);
    let node = entry.to_node();
    let text = yaml::emit(&node);
    let v = entry_hash(&node);
    let path = dir_for(cache_dir, &k).join(v);
    if path.exists() {
        return Ok(());
    }
    write_file(&path, text.as_bytes(), Durability::Durable)
}

/// Finds stored runs with the same cmd, deps, params and out paths as `probe` (its outs'
/// hashes are ignored), newest first.
pub(crate) fn lookup(cache_dir: &Path, probe: &LockStage) -> Vec<LockStage> {
    let dir = dir_for(cache_dir, &key(probe));
    let Ok(rd) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut found: Vec<(std::time::SystemTime, LockStage)> = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        let Ok(node) = yaml::load_file(&p) else { continue };
        let Ok(entry) = LockStage::from_node(&node, &p, "run") else { continue };
        let t = e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
        found.push((t, entry));
    }
    found.sort_by_key(|e| std::cmp::Reverse(e.0));
    found.into_iter().map(|(_, e)| e).collect()
}
