//! `add PATH`: hash and cache data, and write `PATH.dvc` (a [`DvcFile`]).

use std::path::{Path, PathBuf};

use crate::checksum::Algo;
use crate::error::{Error, Result};
use crate::hashing;
use crate::lock::{DvcFile, LockOut};
use crate::project::Project;
use atomic_file::Durability;

/// Adds a file or directory: caches it and writes `<path>.dvc`. Returns the `.dvc` path.
pub fn add(project: &Project, path: &Path) -> Result<PathBuf> {
    let abs = crate::dvcfile::normalize(&std::path::absolute(path).map_err(|e| Error::io("resolving", path, e))?);
    if !abs.starts_with(&project.repo.root) {
        return Err(Error::OutsideRepo { path: abs });
    }
    for s in &project.pipeline.stages {
        if s.outs.iter().any(|o| s.abs(&o.path) == abs) {
            return Err(Error::AlreadyTracked { path: project.repo.rel(&abs), stage: s.name.clone() });
        }
    }
    // A symlinked file is replaced by a copy, as dvc does (the rename replaces the link itself).
    if std::fs::symlink_metadata(&abs).map(|m| m.file_type().is_symlink()).unwrap_or(false) && abs.is_file() {
        atomic_file::copy(&abs, &abs, Durability::Durable).map_err(|e| Error::io("replacing link", &abs, e))?;
    }
    // Only a missing path is reported as missing; any other failure keeps its own cause.
    match std::fs::metadata(&abs) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::PathMissing { path: path.to_path_buf() });
        }
        Err(e) => return Err(Error::io("reading", &abs, e)),
        Ok(_) => {}
    }
    let h = hashing::hash_path(&abs, Algo::Md5, &project.state, &project.ignore)?;
    project.cache.save(&abs, &h, Algo::Md5)?;
    let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dvc_file =
        DvcFile { path: abs.with_file_name(format!("{name}.dvc")), outs: vec![LockOut::from_hash(&name, &h)] };
    dvc_file.save()?;
    project.gitignore_out(&abs)?;
    project.state.save();
    Ok(dvc_file.path)
}
