//! An opened repository with its pipeline, cache and hash state: the entry point for status,
//! repro, checkout and add.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use atomic_file::Durability;
use object_storage::AwsEnv;

use crate::cache::Cache;
use crate::checksum::Algo;
use crate::dvcfile::Stage;
use crate::error::{Error, Result};
use crate::external::{self, Lookups};
use crate::hashing::{self, HashInfo};
use crate::ignore::DvcIgnore;
use crate::lock::{LockFile, LockOut, LockStage};
use crate::params::{self, ParamValues};
use crate::pipeline::Pipeline;
use crate::repo::{Repo, write_file};
use crate::state::HashState;
use crate::yaml::Node;

/// Repository + pipeline + cache + hash state.
#[derive(Debug)]
pub struct Project {
    pub repo: Repo,
    pub(crate) pipeline: Pipeline,
    pub(crate) cache: Cache,
    pub(crate) state: HashState,
    /// The repository's `.dvcignore` rules.
    pub(crate) ignore: DvcIgnore,
    /// S3 dependencies looked up during this command.
    pub(crate) external: Lookups,
}

impl Drop for Project {
    fn drop(&mut self) {
        self.state.save();
    }
}

/// Why a stage is out of date (empty: up to date).
#[derive(Clone, Debug, Default)]
pub(crate) struct StageStatus {
    pub(crate) always_changed: bool,
    pub(crate) cmd_changed: bool,
    /// dep path -> "modified"/"deleted"; params file -> "new" or {key: "modified"/"new"/"deleted"}.
    pub(crate) deps: Vec<(String, serde_json::Value)>,
    pub(crate) outs: Vec<(String, String)>,
}

impl StageStatus {
    pub(crate) fn is_clean(&self) -> bool {
        !self.always_changed && !self.cmd_changed && self.deps.is_empty() && self.outs.is_empty()
    }

    /// dvc's `status --json` form for one stage.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let mut items = Vec::new();
        if self.always_changed {
            items.push(serde_json::Value::from("always changed"));
        }
        if self.cmd_changed {
            items.push("changed command".into());
        }
        if !self.deps.is_empty() {
            let m: serde_json::Map<_, _> = self.deps.iter().cloned().collect();
            items.push(serde_json::json!({ "changed deps": m }));
        }
        if !self.outs.is_empty() {
            let m: serde_json::Map<_, _> =
                self.outs.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone()))).collect();
            items.push(serde_json::json!({ "changed outs": m }));
        }
        serde_json::Value::Array(items)
    }
}

impl Project {
    /// Finds the repository above `cwd` and loads its pipeline.
    pub fn open(cwd: &Path) -> Result<Project> {
        let repo = Repo::find(cwd)?;
        Project::open_repo(repo)
    }

    /// Every stage in execution order with the stages it depends on, by display name.
    pub fn dag(&self) -> Result<Vec<(String, Vec<String>)>> {
        let p = &self.pipeline;
        let order = p.order(&(0..p.stages.len()).collect::<Vec<_>>())?;
        Ok(order
            .into_iter()
            .map(|i| (p.display_name(i), p.deps_of[i].iter().map(|&j| p.display_name(j)).collect()))
            .collect())
    }

    pub(crate) fn open_repo(repo: Repo) -> Result<Project> {
        let ignore = DvcIgnore::new(&repo.root);
        let pipeline = Pipeline::load(&repo, &ignore)?;
        let cache = Cache::new(repo.cache_dir());
        let state = HashState::load(repo.tmp_dir().join("rs-hash-state"));
        let external = Lookups::new(AwsEnv::from_process());
        Ok(Project { repo, pipeline, cache, state, ignore, external })
    }

    /// The same project with the AWS variables plain `s3://` dependencies use taken from `env`
    /// instead of the process environment (`remote://NAME/...` ones use the remote's settings).
    pub fn with_aws_env(mut self, env: AwsEnv) -> Project {
        self.external = Lookups::new(env);
        self
    }

    /// Whether a dependency exists: a workspace path, or an S3 object or prefix.
    pub(crate) fn dep_exists(&self, stage: &Stage, dep: &str) -> Result<bool> {
        if external::is_url(dep) {
            return Ok(self.external.get(&self.repo, dep)?.is_some());
        }
        Ok(std::fs::metadata(stage.abs(dep)).is_ok())
    }

    pub(crate) fn lock_of(&self, stage: &Stage) -> Result<LockFile> {
        LockFile::load(&stage.lockfile())
    }

    /// Hash of a workspace path, or `None` when it does not exist.
    pub(crate) fn hash(&self, abs: &Path, algo: Algo) -> Result<Option<HashInfo>> {
        match std::fs::metadata(abs) {
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => return Ok(None),
            Err(e) => return Err(Error::io("reading", abs, e)),
            Ok(_) => {}
        }
        hashing::hash_path(abs, algo, &self.state, &self.ignore).map(Some)
    }

    /// Compares a stage with its lock entry, the way `dvc status` does.
    pub(crate) fn stage_status(&self, stage: &Stage, lock: Option<&LockStage>) -> Result<StageStatus> {
        let mut st = StageStatus { always_changed: stage.always_changed, ..Default::default() };
        let Some(lock) = lock else {
            for d in &stage.deps {
                let state = if self.dep_exists(stage, d)? { "modified" } else { "deleted" };
                st.deps.push((d.clone(), state.into()));
            }
            for p in &stage.params {
                st.deps.push((p.file.clone(), "new".into()));
            }
            for o in &stage.outs {
                let state = if std::fs::metadata(stage.abs(&o.path)).is_ok() { "modified" } else { "deleted" };
                st.outs.push((o.path.clone(), state.into()));
            }
            return Ok(st);
        };
        st.cmd_changed = !stage.cmd.matches(&lock.cmd);
        for d in &stage.deps {
            if let Some(s) = self.entry_change(stage, d, lock.deps.iter().find(|e| &e.path == d))? {
                st.deps.push((d.clone(), s.into()));
            }
        }
        let current = params::read(stage, false)?;
        for (file, changes) in params_changes(stage, &current, &lock.params) {
            st.deps.push((file, changes));
        }
        for o in &stage.outs {
            let entry = lock.outs.iter().find(|e| e.path == o.path);
            if let Some(s) = self.entry_change(stage, &o.path, entry)? {
                st.outs.push((o.path.clone(), s.into()));
            } else if let Some(e) = entry.filter(|_| o.cache)
                && !self.cache.has(&e.md5, e.algo)
            {
                st.outs.push((o.path.clone(), "not in cache".into()));
            }
        }
        Ok(st)
    }

    fn entry_change(&self, stage: &Stage, rel: &str, entry: Option<&LockOut>) -> Result<Option<&'static str>> {
        if external::is_url(rel) {
            return Ok(match (self.external.get(&self.repo, rel)?, entry) {
                (None, _) => Some("deleted"),
                (Some(found), Some(e)) if e.matches_found(&found) => None,
                (Some(_), _) => Some("modified"),
            });
        }
        let algo = entry.map_or(Algo::Md5, |e| e.algo);
        match (self.hash(&stage.abs(rel), algo)?, entry) {
            (None, _) => Ok(Some("deleted")),
            (Some(_), None) => Ok(Some("modified")),
            (Some(h), Some(e)) if h.md5 != e.md5 => Ok(Some("modified")),
            _ => Ok(None),
        }
    }

    /// Builds the lock entry for the current workspace state. Entries whose content still
    /// matches the previous lock are kept exactly as they were (DVC 2.x ones included).
    pub(crate) fn current_entry(
        &self,
        stage: &Stage,
        old: Option<&LockStage>,
        params: ParamValues,
        with_outs: bool,
    ) -> Result<LockStage> {
        // `None`: the path does not exist. Any other failure (unreadable, a .dvcignore inside
        // a directory out) is returned as it is, not reported as a missing path.
        let build = |rel: &str, prev: Option<&LockOut>| -> Result<Option<LockOut>> {
            if external::is_url(rel) {
                return Ok(self.external.get(&self.repo, rel)?.map(|found| match prev {
                    Some(p) if p.matches_found(&found) => p.clone(),
                    _ => LockOut::from_found(rel, &found),
                }));
            }
            let abs = stage.abs(rel);
            if let Some(p) = prev
                && let Some(h) = self.hash(&abs, p.algo)?
                && h.md5 == p.md5
            {
                return Ok(Some(p.clone()));
            }
            Ok(self.hash(&abs, Algo::Md5)?.map(|h| LockOut::from_hash(rel, &h)))
        };
        let mut deps = Vec::new();
        for d in &stage.deps {
            let entry = build(d, old.and_then(|o| o.deps.iter().find(|e| &e.path == d)))?;
            deps.push(entry.ok_or_else(|| missing_dep(&stage.name, d))?);
        }
        deps.sort_by(|a, b| a.path.cmp(&b.path));
        let mut outs = Vec::new();
        if with_outs {
            for o in &stage.outs {
                let prev = old.and_then(|l| l.outs.iter().find(|e| e.path == o.path));
                let entry = build(&o.path, prev)?;
                outs.push(entry.ok_or_else(|| Error::MissingOut { stage: stage.name.clone(), path: o.path.clone() })?);
            }
            outs.sort_by(|a, b| a.path.cmp(&b.path));
        } else {
            for o in &stage.outs {
                outs.push(LockOut {
                    path: o.path.clone(),
                    algo: Algo::Md5,
                    md5: String::new(),
                    etag: None,
                    size: None,
                    nfiles: None,
                    isexec: false,
                });
            }
            outs.sort_by(|a, b| a.path.cmp(&b.path));
        }
        Ok(LockStage { cmd: stage.cmd.to_node(), deps, params, outs })
    }

    /// Caches a stage's outs (cached and `cache: false` alike, as dvc does for the run-cache).
    pub(crate) fn cache_outs(&self, stage: &Stage, entry: &LockStage, with_uncached: bool) -> Result<()> {
        for o in &entry.outs {
            let cached = stage.outs.iter().find(|d| d.path == o.path).is_none_or(|d| d.cache);
            if !cached && !with_uncached {
                continue;
            }
            let abs = stage.abs(&o.path);
            let h = hashing::hash_path(&abs, o.algo, &self.state, &self.ignore)?;
            self.cache.save(&abs, &h, o.algo)?;
        }
        Ok(())
    }

    /// Adds `/name` to the .gitignore next to a cached out when the repo is in git, as dvc does.
    pub(crate) fn gitignore_out(&self, abs: &Path) -> Result<()> {
        if !self.repo.root.ancestors().any(|d| d.join(".git").exists()) {
            return Ok(());
        }
        let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else { return Ok(()) };
        let line = format!("/{}", name.to_string_lossy());
        let gi = parent.join(".gitignore");
        let text = std::fs::read_to_string(&gi).unwrap_or_default();
        if text.lines().any(|l| l.trim() == line) {
            return Ok(());
        }
        let mut new = text;
        if !new.is_empty() && !new.ends_with('\n') {
            new.push('\n');
        }
        new.push_str(&line);
        new.push('\n');
        // Fast: a lost line is added again by the next repro or add.
        write_file(&gi, new.as_bytes(), Durability::Fast)
    }

    /// Every (absolute path, lock entry, cached?) the workspace tracks: stage outs from the
    /// locks and outs of `.dvc` files.
    pub(crate) fn tracked_outs(&self) -> Result<Vec<(PathBuf, LockOut, bool)>> {
        let mut out = Vec::new();
        let mut locks: Vec<(PathBuf, LockFile)> = Vec::new();
        for s in &self.pipeline.stages {
            let lf = s.lockfile();
            if !locks.iter().any(|(p, _)| p == &lf) {
                let l = LockFile::load(&lf)?;
                locks.push((lf.clone(), l));
            }
            let Some((_, lock)) = locks.iter().find(|(p, _)| p == &lf) else { continue };
            if let Some(entry) = lock.get(&s.name) {
                for e in &entry.outs {
                    let cached = s.outs.iter().find(|o| o.path == e.path).is_none_or(|o| o.cache);
                    out.push((s.abs(&e.path), e.clone(), cached));
                }
            }
        }
        for f in &self.pipeline.dvc_files {
            for (abs, e) in crate::lock::DvcFile::load(f)?.abs_outs() {
                out.push((abs, e, true));
            }
        }
        Ok(out)
    }
}

/// The error for a dependency that does not exist (a path, or a URL with nothing behind it).
pub(crate) fn missing_dep(stage: &str, dep: &str) -> Error {
    if external::is_url(dep) {
        Error::MissingUrl { stage: stage.to_string(), url: dep.to_string() }
    } else {
        Error::MissingDep { stage: stage.to_string(), path: dep.to_string() }
    }
}

/// Params differences between the workspace and the lock, per file.
fn params_changes(stage: &Stage, current: &ParamValues, locked: &ParamValues) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for decl in &stage.params {
        let cur = current.iter().find(|(f, _)| f == &decl.file).map(|(_, kv)| kv.as_slice()).unwrap_or(&[]);
        let Some((_, old)) = locked.iter().find(|(f, _)| f == &decl.file) else {
            out.push((decl.file.clone(), "new".into()));
            continue;
        };
        let keys: Vec<String> = match &decl.keys {
            Some(k) => k.clone(),
            None => {
                let mut k: Vec<String> = cur.iter().chain(old.iter()).map(|(k, _)| k.clone()).collect();
                k.sort();
                k.dedup();
                k
            }
        };
        let mut changes = serde_json::Map::new();
        for k in keys {
            let c: Option<&Node> = cur.iter().find(|(n, _)| *n == k).map(|(_, v)| v);
            let o: Option<&Node> = old.iter().find(|(n, _)| *n == k).map(|(_, v)| v);
            let what = match (c, o) {
                (Some(c), Some(o)) if c.same_as(o) => continue,
                (Some(_), Some(_)) => "modified",
                (Some(_), None) => "new",
                (None, Some(_)) => "deleted",
                (None, None) => continue,
            };
            changes.insert(k, what.into());
        }
        if !changes.is_empty() {
            out.push((decl.file.clone(), serde_json::Value::Object(changes)));
        }
    }
    out
}
