//! The DVC repository: root discovery (walking up to `.dvc/`), well-known paths, `init`.

use std::path::{Path, PathBuf};

use atomic_file::Durability;

use crate::error::{Error, Result};

/// A located DVC repository.
#[derive(Clone, Debug)]
pub struct Repo {
    pub root: PathBuf,
}

impl Repo {
    /// Walks up from `start` to the first directory holding `.dvc/`.
    pub fn find(start: &Path) -> Result<Repo> {
        let start = std::path::absolute(start).map_err(|e| Error::io("resolving", start, e))?;
        let mut dir = Some(start.as_path());
        while let Some(d) = dir {
            if d.join(".dvc").is_dir() {
                return Ok(Repo { root: d.to_path_buf() });
            }
            dir = d.parent();
        }
        Err(Error::NoRepo { start })
    }

    /// Creates `.dvc/` (config, .gitignore, tmp) and `.dvcignore` like `dvc init`
    /// (with `--no-scm` when the directory is not in git). Existing files are kept.
    pub fn init(root: &Path) -> Result<Repo> {
        let dvc = root.join(".dvc");
        if dvc.is_dir() {
            return Err(Error::AlreadyInitialized { dvc_dir: dvc });
        }
        std::fs::create_dir_all(dvc.join("tmp")).map_err(|e| Error::io("creating", &dvc, e))?;
        let in_git = root.ancestors().any(|d| d.join(".git").exists());
        let config = if in_git { String::new() } else { "[core]\n    no_scm = True\n".to_string() };
        // Durable, as every config write (config.rs): `init` runs once per repository.
        let write = |path: &Path, data: &[u8]| write_file(path, data, Durability::Durable);
        write(&dvc.join("config"), config.as_bytes())?;
        if in_git {
            write(&dvc.join(".gitignore"), b"/config.local\n/tmp\n/cache\n")?;
        }
        let ignore = root.join(".dvcignore");
        if !ignore.exists() {
            write(
                &ignore,
                b"# Add patterns of files dvc should ignore, which could improve\n# the performance. Learn more at\n# https://dvc.org/doc/user-guide/dvcignore\n",
            )?;
        }
        Ok(Repo { root: root.to_path_buf() })
    }

    pub(crate) fn dvc_dir(&self) -> PathBuf {
        self.root.join(".dvc")
    }

    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.root.join(".dvc").join("cache")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join(".dvc").join("tmp")
    }

    /// Path relative to the root with `/` separators (for messages and matching).
    pub fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.root).unwrap_or(p).to_string_lossy().replace('\\', "/")
    }
}

/// Writes a file of the repository through the workspace's one atomic write, naming the file in
/// the error.
pub(crate) fn write_file(path: &Path, data: &[u8], durability: Durability) -> Result<()> {
    atomic_file::write(path, data, durability).map_err(|e| Error::io("writing", path, e))
}

/// As [`write_file`], readable by the owner only (`0600`): for `.dvc/config.local`, which holds
/// the remotes' keys.
pub(crate) fn write_private_file(path: &Path, data: &[u8], durability: Durability) -> Result<()> {
    atomic_file::write_private(path, data, durability).map_err(|e| Error::io("writing", path, e))
}
