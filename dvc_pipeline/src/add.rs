//! `add PATH`: hash and cache data, and write `PATH.dvc` (key order `md5, size, nfiles,
//! hash, path`, as dvc writes it). Also reads `.dvc` files (DVC 3 and 2.x).

use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::hashing::{self, Algo};
use crate::lock::LockOut;
use crate::yaml::{self, Node, Value, err_at};
use atomic_file::Durability;

/// The outs recorded in a `.dvc` file, as absolute paths with their entries.
pub fn read_dvc_file(file: &Path) -> Result<Vec<(PathBuf, LockOut)>> {
    let doc = yaml::load_file(file)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    if let Some(Value::Seq(items)) = doc.get("outs").map(|n| &n.value) {
        for item in items {
            let s = |k: &str| item.get(k).and_then(Node::to_interp_string);
            let path = s("path").ok_or_else(|| err_at(file, item.line, "outs", "entry without 'path'"))?;
            let algo = if s("hash").as_deref() == Some("md5") { Algo::Md5 } else { Algo::Dos2Unix };
            let num = |k: &str| match item.get(k).map(|v| &v.value) {
                Some(Value::Int(i)) => Some(*i as u64),
                _ => None,
            };
            let e = LockOut {
                path: path.clone(),
                algo,
                md5: s("md5").unwrap_or_default(),
                size: num("size"),
                nfiles: num("nfiles"),
                isexec: matches!(item.get("isexec").map(|v| &v.value), Some(Value::Bool(true))),
            };
            out.push((crate::dvcfile::normalize(&dir.join(&path)), e));
        }
    }
    Ok(out)
}

/// Adds a file or directory: caches it and writes `<path>.dvc`. Returns the `.dvc` path.
pub fn add(engine: &Engine, path: &Path) -> Result<PathBuf> {
    let abs = crate::dvcfile::normalize(&std::path::absolute(path).map_err(|e| Error::io("resolving", path, e))?);
    if !abs.starts_with(&engine.repo.root) {
        return Err(Error::Usage(format!("'{}' is outside the repository", abs.display())));
    }
    for s in &engine.pipeline.stages {
        if s.outs.iter().any(|o| s.abs(&o.path) == abs) {
            return Err(Error::Usage(format!(
                "'{}' is an output of stage '{}': it is tracked by dvc.lock already",
                engine.repo.rel(&abs),
                s.name
            )));
        }
    }
    // A symlinked file is replaced by a copy, as dvc does (the rename replaces the link itself).
    if std::fs::symlink_metadata(&abs).map(|m| m.file_type().is_symlink()).unwrap_or(false) && abs.is_file() {
        atomic_file::copy(&abs, &abs, Durability::Durable).map_err(|e| Error::io("replacing link", &abs, e))?;
    }
    let h = hashing::hash_path(&abs, Algo::Md5, &engine.state, &engine.ignore)
        .map_err(|_| Error::Usage(format!("'{}' does not exist", path.display())))?;
    engine.cache.save(&abs, &h, Algo::Md5)?;
    let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut m = vec![("md5".to_string(), Node::str(h.md5.clone()))];
    m.push(("size".into(), Node::new(Value::Int(h.size as i64))));
    if let Some(n) = h.nfiles {
        m.push(("nfiles".into(), Node::new(Value::Int(n as i64))));
    }
    if h.isexec {
        m.push(("isexec".into(), Node::new(Value::Bool(true))));
    }
    m.push(("hash".into(), Node::str("md5")));
    m.push(("path".into(), Node::str(name.clone())));
    let doc = Node::new(Value::Map(vec![("outs".into(), Node::new(Value::Seq(vec![Node::new(Value::Map(m))])))]));
    let dvc_file = abs.with_file_name(format!("{name}.dvc"));
    atomic_file::write(&dvc_file, yaml::emit(&doc).as_bytes(), Durability::Durable)
        .map_err(|e| Error::io("writing", &dvc_file, e))?;
    engine.gitignore_out(&abs)?;
    engine.state.save();
    Ok(dvc_file)
}
