//! Run-cache: every lock entry ever produced, keyed by sha256 of its cmd, deps and params,
//! stored as YAML under `.dvc/cache/runs/<2>/<key>/<sha256 of entry>` like dvc does. When a
//! stage's inputs match a stored run whose outputs are still cached, repro restores the
//! outputs instead of running the command.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::hashing::hex;
use crate::lock::LockStage;
use crate::repo::write_atomic;
use crate::yaml;

fn key(entry: &LockStage) -> String {
    let deps: Vec<serde_json::Value> =
        entry.deps.iter().map(|d| serde_json::json!({"path": d.path, "md5": d.md5})).collect();
    let params: Vec<serde_json::Value> = entry
        .params
        .iter()
        .map(|(f, kv)| {
            let m: serde_json::Map<String, serde_json::Value> =
                kv.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
            serde_json::json!([f, m])
        })
        .collect();
    let outs: Vec<&str> = entry.outs.iter().map(|o| o.path.as_str()).collect();
    let doc = serde_json::json!({"cmd": entry.cmd.to_json(), "deps": deps, "params": params, "outs": outs});
    hex(&Sha256::digest(doc.to_string().as_bytes()))
}

fn dir_for(cache_dir: &Path, k: &str) -> PathBuf {
    cache_dir.join("runs").join(&k[..2]).join(k)
}

/// Records a finished run.
pub fn save(cache_dir: &Path, entry: &LockStage) -> Result<()> {
    let k = key(entry);
    let text = yaml::emit(&entry.to_node());
    let v = hex(&Sha256::digest(text.as_bytes()));
    let path = dir_for(cache_dir, &k).join(v);
    if path.exists() {
        return Ok(());
    }
    write_atomic(&path, text.as_bytes())
}

/// Finds stored runs with the same cmd, deps, params and out paths as `probe` (its outs'
/// hashes are ignored), newest first.
pub fn lookup(cache_dir: &Path, probe: &LockStage) -> Vec<LockStage> {
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
