//! `repro`: run the stages whose cmd, deps, params or outs changed, in DAG order; restore from
//! the run-cache when the same inputs ran before; write each stage's lock entry as soon as it
//! finishes.

use std::path::Path;
use std::process::Command;

use crate::dvcfile::Stage;
use crate::error::{Error, Result};
use crate::lock::{self, LockStage};
use crate::params;
use crate::project::Project;
use crate::runcache;

/// Options of `repro`.
#[derive(Clone, Debug, Default)]
pub struct ReproOptions {
    pub targets: Vec<String>,
    pub force: bool,
    pub dry: bool,
    pub downstream: bool,
}

/// What happened to one stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Skipped,
    Ran,
    RestoredFromRunCache,
    Frozen,
}

/// Runs the pipeline; prints dvc-like progress lines through `log`.
pub fn repro(project: &Project, opts: &ReproOptions, log: &mut dyn FnMut(&str)) -> Result<Vec<(String, Outcome)>> {
    let p = &project.pipeline;
    let order = if opts.targets.is_empty() {
        p.order(&(0..p.stages.len()).collect::<Vec<_>>())?
    } else {
        let t = p.resolve(&opts.targets)?;
        if opts.downstream { p.downstream(&t)? } else { p.order(&t)? }
    };
    let mut results = Vec::new();
    let mut wrote_lock = Vec::new();
    for i in order {
        let stage = &p.stages[i];
        let name = p.display_name(i);
        let outcome = run_stage(project, stage, &name, opts, log)?;
        if matches!(outcome, Outcome::Ran | Outcome::RestoredFromRunCache) && !opts.dry {
            let lf = stage.lockfile();
            if !wrote_lock.contains(&lf) {
                wrote_lock.push(lf);
            }
        }
        results.push((name, outcome));
    }
    for lf in wrote_lock {
        log(&format!("Updating lock file '{}'", project.repo.rel(&lf)));
    }
    if results.iter().all(|(_, o)| matches!(o, Outcome::Skipped | Outcome::Frozen)) {
        log("Data and pipelines are up to date.");
    }
    project.state.save();
    Ok(results)
}

fn run_stage(
    project: &Project,
    stage: &Stage,
    name: &str,
    opts: &ReproOptions,
    log: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    if stage.frozen {
        log(&format!("Stage '{name}' is frozen. Its outputs will not be checked."));
        return Ok(Outcome::Frozen);
    }
    let lock = project.lock_of(stage)?;
    let old = lock.get(&stage.name);
    for d in &stage.deps {
        if !project.dep_exists(stage, d)? {
            return Err(crate::project::missing_dep(name, d));
        }
    }
    let status = project.stage_status(stage, old)?;
    if status.is_clean() && !opts.force {
        log(&format!("Stage '{name}' didn't change, skipping"));
        return Ok(Outcome::Skipped);
    }
    if opts.dry {
        log(&format!("Running stage '{name}':"));
        for piece in stage.cmd.pieces() {
            log(&format!("> {piece}"));
        }
        return Ok(Outcome::Ran);
    }
    let params = params::read(stage, true)?;
    let probe = project.current_entry(stage, old, params.clone(), false)?;
    if !opts.force
        && run_cacheable(stage)
        && let Some(hit) = runcache_hit(project, &probe)
    {
        log(&format!("Stage '{name}' is cached - skipping run, checking out outputs"));
        for o in &hit.outs {
            project.cache.checkout(&stage.abs(&o.path), &o.md5, o.algo, o.isexec, &project.state, &project.ignore)?;
        }
        let entry = LockStage { outs: hit.outs, ..probe };
        lock::update_entry(&stage.lockfile(), &stage.name, entry)?;
        return Ok(Outcome::RestoredFromRunCache);
    }
    log(&format!("Running stage '{name}':"));
    for o in &stage.outs {
        if !o.persist {
            remove(&stage.abs(&o.path))?;
        }
    }
    for piece in stage.cmd.pieces() {
        log(&format!("> {piece}"));
        run_piece(project, stage, name, &piece)?;
    }
    let entry = project.current_entry(stage, old, params, true)?;
    // dvc commits `cache: false` outs too, but only when it records the run in the run-cache.
    project.cache_outs(stage, &entry, run_cacheable(stage))?;
    for o in &stage.outs {
        if o.cache {
            project.gitignore_out(&stage.abs(&o.path))?;
        }
    }
    lock::update_entry(&stage.lockfile(), &stage.name, entry.clone())?;
    if run_cacheable(stage) {
        runcache::save(&project.cache.dir, &entry)?;
    }
    Ok(Outcome::Ran)
}

/// As dvc's `_can_hash`: a stage is run-cached only with deps (files or params) and outs, and
/// never with persistent outs, `always_changed` or a dependency outside the workspace (an S3 URL).
fn run_cacheable(stage: &Stage) -> bool {
    if stage.deps.iter().any(|d| crate::external::is_url(d)) {
        return false;
    }
    let has_deps = !stage.deps.is_empty() || !stage.params.is_empty();
    has_deps && !stage.always_changed && !stage.outs.is_empty() && !stage.outs.iter().any(|o| o.persist)
}

fn runcache_hit(project: &Project, probe: &LockStage) -> Option<LockStage> {
    runcache::lookup(&project.cache.dir, probe).into_iter().find(|run| {
        run.outs.iter().all(|o| match project.cache.object_keys(&o.md5, o.algo) {
            Some(keys) => keys.iter().all(|k| project.cache.dir.join(k).is_file()),
            None => false,
        })
    })
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).map_err(|e| Error::io("removing", path, e)),
        Ok(_) => std::fs::remove_file(path).map_err(|e| Error::io("removing", path, e)),
    }
}

/// Runs one command piece as `$SHELL -c piece` in wdir, with DVC_ROOT/DVC_STAGE set and our
/// own executable's directory first on PATH.
fn run_piece(project: &Project, stage: &Stage, name: &str, piece: &str) -> Result<()> {
    let shell = std::env::var("SHELL").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "/bin/sh".into());
    let mut cmd = Command::new(&shell);
    let base = Path::new(&shell).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match base.as_str() {
        "bash" => {
            cmd.args(["--noprofile", "--norc"]);
        }
        "zsh" => {
            cmd.arg("--no-rcs");
        }
        _ => {}
    }
    cmd.arg("-c").arg(piece).current_dir(&stage.wdir);
    cmd.env("DVC_ROOT", &project.repo.root).env("DVC_STAGE", name);
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        let old = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![dir];
        paths.extend(std::env::split_paths(&old));
        if let Ok(joined) = std::env::join_paths(paths) {
            cmd.env("PATH", joined);
        }
    }
    let status = cmd.status().map_err(|e| Error::io("starting shell", Path::new(&shell), e))?;
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        return Err(Error::CommandFailed { stage: name.to_string(), cmd: piece.to_string(), code });
    }
    Ok(())
}
