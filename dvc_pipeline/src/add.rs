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
        return Err(Error::Usage(format!("'{}' is outside the repository", abs.display())));
    }
    for s in &project.pipeline.stages {
        if s.outs.iter().any(|o| s.abs(&o.path) == abs) {
            return Err(Error::Usage(format!(
                "'{}' is an output of stage '{}': it is tracked by dvc.lock already",
                project.repo.rel(&abs),
                s.name
            )));
        }
    }
    // A symlinked file is replaced by a copy, as dvc does (the rename replaces the link itself).
    if std::fs::symlink_metadata(&abs).map(|m| m.file_type().is_symlink()).unwrap_or(false) && abs.is_file() {
        atomic_file::copy(&abs, &abs, Durability::Durable).map_err(|e| Error::io("replacing link", &abs, e))?;
    }
    let h = hashing::hash_path(&abs, Algo::Md5, &project.state, &project.ignore)
        .map_err(|_| Error::Usage(format!("'{}' does not exist", path.display())))?;
    project.cache.save(&abs, &h, Algo::Md5)?;
    let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dvc_file =
        DvcFile { path: abs.with_file_name(format!("{name}.dvc")), outs: vec![LockOut::from_hash(&name, &h)] };
    dvc_file.save()?;
    project.gitignore_out(&abs)?;
    project.state.save();
    Ok(dvc_file.path)
}
