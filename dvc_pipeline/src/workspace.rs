//! Workspace-wide operations over tracked outs: `checkout`, `gc --workspace`, `metrics show`.

use std::collections::HashSet;

use crate::cache::object_key;
use crate::dvcfile::OutKind;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::yaml;

/// Restores every tracked out that differs from the lock / `.dvc` files. Returns the paths
/// restored; objects missing from the cache are reported together at the end.
pub fn checkout(project: &Project) -> Result<Vec<String>> {
    let mut restored = Vec::new();
    let mut missing = Vec::new();
    for (abs, e, cached) in project.tracked_outs()? {
        if e.md5.is_empty() {
            continue;
        }
        if let Some(h) = project.hash(&abs, e.algo)?
            && h.md5 == e.md5
        {
            continue;
        }
        if !cached && !project.cache.has(&e.md5, e.algo) {
            continue;
        }
        match project.cache.checkout(&abs, &e.md5, e.algo, e.isexec, &project.state, &project.ignore) {
            Ok(()) => restored.push(project.repo.rel(&abs)),
            Err(Error::MissingObject { .. }) => missing.push(project.repo.rel(&abs)),
            Err(other) => return Err(other),
        }
    }
    project.state.save();
    if !missing.is_empty() {
        return Err(Error::OutputsNotRestored { paths: missing });
    }
    Ok(restored)
}

/// Deletes cache objects no lock or `.dvc` file of the workspace uses. Returns how many.
pub fn gc_workspace(project: &Project) -> Result<usize> {
    let mut used: HashSet<String> = HashSet::new();
    for (_, e, _) in project.tracked_outs()? {
        if e.md5.is_empty() {
            continue;
        }
        match project.cache.object_keys(&e.md5, e.algo) {
            Some(keys) => used.extend(keys),
            None => {
                used.insert(object_key(&e.md5, e.algo));
            }
        }
    }
    let mut removed = 0;
    for (rel, abs) in project.cache.all_objects()? {
        if !used.contains(&rel) {
            std::fs::remove_file(&abs).map_err(|e| Error::io("removing", &abs, e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// `(metrics file relative to the repo, flattened key, value)` for every declared metric.
pub fn metrics(project: &Project) -> Result<Vec<(String, String, serde_json::Value)>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for s in &project.pipeline.stages {
        for o in s.outs.iter().filter(|o| o.kind == OutKind::Metric) {
            let abs = s.abs(&o.path);
            if !seen.insert(abs.clone()) {
                continue;
            }
            let rel = project.repo.rel(&abs);
            let Ok(bytes) = std::fs::read(&abs) else { continue };
            let value: serde_json::Value = if abs.extension().is_some_and(|e| e == "json") {
                serde_json::from_slice(&bytes).map_err(|e| Error::BadMetrics {
                    file: rel.clone(),
                    line: e.line(),
                    source: e,
                })?
            } else {
                let text = String::from_utf8_lossy(&bytes);
                yaml::parse(&text, &abs)?.to_json()
            };
            flatten("", &value, &mut |k, v| out.push((rel.clone(), k, v)));
        }
    }
    Ok(out)
}

fn flatten(prefix: &str, v: &serde_json::Value, f: &mut dyn FnMut(String, serde_json::Value)) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, x, f);
            }
        }
        other => f(prefix.to_string(), other.clone()),
    }
}

/// Table like `dvc metrics show`: `Path  key1  key2` then one row per file.
pub fn render_metrics(rows: &[(String, String, serde_json::Value)]) -> String {
    let mut files: Vec<&str> = Vec::new();
    let mut keys: Vec<&str> = Vec::new();
    for (f, k, _) in rows {
        if !files.contains(&f.as_str()) {
            files.push(f);
        }
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    let mut table: Vec<Vec<String>> =
        vec![std::iter::once("Path".to_string()).chain(keys.iter().map(|k| k.to_string())).collect()];
    for f in &files {
        let mut row = vec![f.to_string()];
        for k in &keys {
            let cell = rows
                .iter()
                .find(|(rf, rk, _)| rf == f && rk == k)
                .map(|(_, _, v)| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| "-".into());
            row.push(cell);
        }
        table.push(row);
    }
    let widths: Vec<usize> =
        (0..table[0].len()).map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut s = String::new();
    for r in &table {
        let line: Vec<String> = r.iter().enumerate().map(|(c, cell)| format!("{cell:<w$}", w = widths[c])).collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    }
    s
}
