//! `.dvcignore`: gitignore-syntax files at the repository root or in any directory below it.
//! Paths they match are left out of directory hashes, of the files a checkout may delete, and
//! of the `dvc.yaml` search, as dvc does (verified with dvc 3.67: `*.tmp` with `!keep.tmp`,
//! anchored `/data/logs/`, `data/**/secret.txt`, and a `.dvcignore` in a subdirectory that
//! applies below it). Like dvc, a `.dvcignore` inside a directory being hashed is an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::error::{Error, Result};

pub(crate) const FILE_NAME: &str = ".dvcignore";

/// The `.dvcignore` files of one repository, each read once when first needed.
#[derive(Debug, Default)]
pub(crate) struct DvcIgnore {
    /// The repository root; `None` applies no patterns at all.
    root: Option<PathBuf>,
    /// Directory -> its parsed `.dvcignore` (None: the directory has none).
    files: Mutex<HashMap<PathBuf, Option<Arc<Gitignore>>>>,
}

/// The `.dvcignore` files that apply inside one directory, deepest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rules(Vec<Arc<Gitignore>>);

impl DvcIgnore {
    /// The rules of the repository at `root`.
    pub(crate) fn new(root: &Path) -> Self {
        DvcIgnore { root: Some(root.to_path_buf()), files: Mutex::default() }
    }

    /// No rules: for directories outside a workspace (a model directory being published).
    pub(crate) fn none() -> Self {
        DvcIgnore::default()
    }

    /// False for [`DvcIgnore::none`].
    pub(crate) fn applies(&self) -> bool {
        self.root.is_some()
    }

    /// The rules that apply to the entries of `dir`: its own `.dvcignore` and its ancestors' up
    /// to the repository root.
    pub(crate) fn rules_in(&self, dir: &Path) -> Result<Rules> {
        let Some(root) = &self.root else { return Ok(Rules::default()) };
        let mut rules = Vec::new();
        let mut at = Some(dir);
        while let Some(d) = at.filter(|d| d.starts_with(root)) {
            if let Some(g) = self.file_in(d)? {
                rules.push(g);
            }
            at = d.parent();
        }
        Ok(Rules(rules))
    }

    fn file_in(&self, dir: &Path) -> Result<Option<Arc<Gitignore>>> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = files.get(dir) {
            return Ok(known.clone());
        }
        let path = dir.join(FILE_NAME);
        let parsed = if path.is_file() { Some(Arc::new(parse(dir, &path)?)) } else { None };
        files.insert(dir.to_path_buf(), parsed.clone());
        Ok(parsed)
    }
}

impl Rules {
    /// Whether an entry of the directory these rules were made for is ignored. The deepest file
    /// that has an opinion decides, so a subdirectory's `!pattern` re-includes.
    pub(crate) fn ignores(&self, path: &Path, is_dir: bool) -> bool {
        for g in &self.0 {
            match g.matched(path, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn parse(dir: &Path, path: &Path) -> Result<Gitignore> {
    let mut builder = GitignoreBuilder::new(dir);
    if let Some(e) = builder.add(path) {
        return Err(Error::BadIgnorePattern { file: path.to_path_buf(), source: e });
    }
    builder.build().map_err(|e| Error::BadIgnorePattern { file: path.to_path_buf(), source: e })
}
