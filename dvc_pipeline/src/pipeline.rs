//! The pipeline of a repository: every dvc.yaml below the root, its stages, the DAG between
//! them (an out of one stage that is a dep of another), and the checks dvc makes: two stages
//! writing one out, a cycle, a dep that neither exists nor is produced.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::dvcfile::{self, Stage};
use crate::error::{Error, Result};
use crate::ignore::DvcIgnore;
use crate::repo::Repo;

/// All stages of a repository and their edges.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub(crate) stages: Vec<Stage>,
    /// `deps_of[i]`: indexes of stages whose outs stage `i` depends on.
    pub(crate) deps_of: Vec<Vec<usize>>,
    /// `.dvc` files (from `add`) found in the repository.
    pub(crate) dvc_files: Vec<PathBuf>,
    root: PathBuf,
}

const SKIP_DIRS: &[&str] = &[".git", ".dvc", "target", "node_modules", ".venv", "__pycache__"];

fn find_files(repo: &Repo, ignore: &DvcIgnore) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut yamls = Vec::new();
    let mut dvcs = Vec::new();
    let mut stack = vec![repo.root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        let rules = ignore.rules_in(&dir)?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(ft) = e.file_type() else { continue };
            if rules.ignores(&e.path(), ft.is_dir()) {
                continue;
            }
            if ft.is_dir() {
                if !SKIP_DIRS.contains(&name.as_str()) && !name.starts_with('.') {
                    stack.push(e.path());
                }
            } else if name == "dvc.yaml" {
                yamls.push(e.path());
            } else if name.ends_with(".dvc") && ft.is_file() {
                dvcs.push(e.path());
            }
        }
    }
    yamls.sort();
    dvcs.sort();
    Ok((yamls, dvcs))
}

impl Pipeline {
    pub(crate) fn load(repo: &Repo, ignore: &DvcIgnore) -> Result<Pipeline> {
        let (yamls, dvc_files) = find_files(repo, ignore)?;
        let mut stages = Vec::new();
        for y in &yamls {
            stages.extend(dvcfile::load(y)?);
        }
        // Data tracked by `.dvc` files counts as present even before it is pulled.
        let mut tracked = Vec::new();
        for f in &dvc_files {
            tracked.extend(crate::lock::DvcFile::load(f)?.abs_outs().into_iter().map(|(abs, _)| abs));
        }
        let mut p = Pipeline { stages, deps_of: Vec::new(), dvc_files, root: repo.root.clone() };
        p.link(&tracked)?;
        Ok(p)
    }

    /// Name as the user sees it: `train`, or `sub/dvc.yaml:train` outside the root dvc.yaml.
    pub(crate) fn display_name(&self, i: usize) -> String {
        let s = &self.stages[i];
        if s.dvcfile == self.root.join("dvc.yaml") {
            s.name.clone()
        } else {
            let rel = s.dvcfile.strip_prefix(&self.root).unwrap_or(&s.dvcfile);
            format!("{}:{}", rel.display(), s.name)
        }
    }

    fn link(&mut self, tracked: &[PathBuf]) -> Result<()> {
        let mut producer: HashMap<PathBuf, usize> = HashMap::new();
        for (i, s) in self.stages.iter().enumerate() {
            for o in &s.outs {
                let abs = s.abs(&o.path);
                if let Some(&j) = producer.get(&abs) {
                    return Err(Error::DuplicateOut {
                        path: o.path.clone(),
                        first: self.display_name(j),
                        second: self.display_name(i),
                    });
                }
                producer.insert(abs, i);
            }
        }
        let mut deps_of = vec![Vec::new(); self.stages.len()];
        for (i, s) in self.stages.iter().enumerate() {
            // S3 URLs are looked up when a command needs them, not while the pipeline loads.
            for d in s.deps.iter().filter(|d| !crate::external::is_url(d)) {
                let abs = s.abs(d);
                // A dep may be an out, inside an out directory, or a directory holding outs.
                let mut found = false;
                for (out, &j) in &producer {
                    if (out == &abs || abs.starts_with(out) || out.starts_with(&abs)) && j != i {
                        if !deps_of[i].contains(&j) {
                            deps_of[i].push(j);
                        }
                        found = true;
                    }
                }
                let is_tracked = tracked.iter().any(|t| abs.starts_with(t));
                if !found && !is_tracked && std::fs::symlink_metadata(&abs).is_err() {
                    return Err(Error::MissingDep { stage: self.display_name(i), path: d.clone() });
                }
            }
        }
        self.deps_of = deps_of;
        self.order(&(0..self.stages.len()).collect::<Vec<_>>()).map(|_| ())
    }

    /// Topological order of `targets` and everything upstream of them.
    pub(crate) fn order(&self, targets: &[usize]) -> Result<Vec<usize>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            None,
            Active,
            Done,
        }
        let mut mark = vec![Mark::None; self.stages.len()];
        let mut out = Vec::new();
        let mut path: Vec<usize> = Vec::new();
        fn visit(p: &Pipeline, i: usize, mark: &mut [Mark], out: &mut Vec<usize>, path: &mut Vec<usize>) -> Result<()> {
            match mark[i] {
                Mark::Done => return Ok(()),
                Mark::Active => {
                    let start = path.iter().position(|&x| x == i).unwrap_or(0);
                    let mut names: Vec<String> = path[start..].iter().map(|&k| p.display_name(k)).collect();
                    names.push(p.display_name(i));
                    return Err(Error::Cycle { stages: names });
                }
                Mark::None => {}
            }
            mark[i] = Mark::Active;
            path.push(i);
            let mut deps = p.deps_of[i].clone();
            deps.sort_unstable();
            for j in deps {
                visit(p, j, mark, out, path)?;
            }
            path.pop();
            mark[i] = Mark::Done;
            out.push(i);
            Ok(())
        }
        for &t in targets {
            visit(self, t, &mut mark, &mut out, &mut path)?;
        }
        Ok(out)
    }

    /// Stages downstream of (and including) `targets`, in topological order.
    pub(crate) fn downstream(&self, targets: &[usize]) -> Result<Vec<usize>> {
        let all = self.order(&(0..self.stages.len()).collect::<Vec<_>>())?;
        let mut set: HashSet<usize> = targets.iter().copied().collect();
        for &i in &all {
            if self.deps_of[i].iter().any(|j| set.contains(j)) {
                set.insert(i);
            }
        }
        Ok(all.into_iter().filter(|i| set.contains(i)).collect())
    }

    /// Resolves user-given stage names (`train`, `each@x`, `sub/dvc.yaml:train`).
    pub(crate) fn resolve(&self, names: &[String]) -> Result<Vec<usize>> {
        let mut out = Vec::new();
        for n in names {
            let matches: Vec<usize> = (0..self.stages.len())
                .filter(|&i| {
                    let d = self.display_name(i);
                    d == *n
                        || self.stages[i].name == *n
                        || (n.ends_with(&format!(":{}", self.stages[i].name)) && d.ends_with(n.as_str()))
                })
                .collect();
            match matches.len() {
                0 => {
                    // A group name (`each`) selects all its foreach/matrix stages.
                    let group: Vec<usize> = (0..self.stages.len())
                        .filter(|&i| {
                            self.stages[i].name.split('@').next() == Some(n.as_str())
                                && self.stages[i].name.contains('@')
                        })
                        .collect();
                    if group.is_empty() {
                        return Err(Error::UnknownStage(n.clone()));
                    }
                    out.extend(group);
                }
                1 => out.push(matches[0]),
                _ => {
                    return Err(Error::AmbiguousStage {
                        name: n.clone(),
                        candidates: matches.iter().map(|&i| self.display_name(i)).collect(),
                    });
                }
            }
        }
        Ok(out)
    }
}
