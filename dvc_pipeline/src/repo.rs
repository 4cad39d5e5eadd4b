//! The DVC repository: root discovery (walking up to `.dvc/`), well-known paths, `init`.

use std::path::{Path, PathBuf};

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
            return Err(Error::Usage(format!(
                "'{}' already exists: this directory is already a DVC repository",
                dvc.display()
            )));
        }
        std::fs::create_dir_all(dvc.join("tmp")).map_err(|e| Error::io("creating", &dvc, e))?;
        let in_git = root.ancestors().any(|d| d.join(".git").exists());
        let config = if in_git { String::new() } else { "[core]\n    no_scm = True\n".to_string() };
        write_atomic(&dvc.join("config"), config.as_bytes())?;
        if in_git {
            write_atomic(&dvc.join(".gitignore"), b"/config.local\n/tmp\n/cache\n")?;
        }
        let ignore = root.join(".dvcignore");
        if !ignore.exists() {
            write_atomic(
                &ignore,
                b"# Add patterns of files dvc should ignore, which could improve\n# the performance. Learn more at\n# https://dvc.org/doc/user-guide/dvcignore\n",
            )?;
        }
        Ok(Repo { root: root.to_path_buf() })
    }

    pub fn dvc_dir(&self) -> PathBuf {
        self.root.join(".dvc")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(".dvc").join("cache")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(".dvc").join("tmp")
    }

    /// Path relative to the root with `/` separators (for messages and matching).
    pub fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.root).unwrap_or(p).to_string_lossy().replace('\\', "/")
    }
}

/// Writes a file through a temporary sibling and a rename, so readers never see half of it.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let res = std::fs::write(&tmp, data).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("writing", path, e));
    }
    Ok(())
}
