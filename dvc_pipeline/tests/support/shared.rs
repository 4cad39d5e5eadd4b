//! Test helpers shared by `dvc_pipeline`'s tests and `model_creation`'s pipeline tests (which
//! include this file by path): finding real dvc, running a program in a scratch workspace, and
//! reading what it left there.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The real dvc 3 binary: `DVC_BIN`, else `dvc` on PATH, else `$HOME/.venv-dvc/bin/dvc` (where
/// `.ci/install-pipeline-tools.sh` puts it). Under CI=true a missing dvc fails the test;
/// otherwise the test is skipped with a message.
pub fn dvc() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(b) = std::env::var_os("DVC_BIN") {
        candidates.push(b.into());
    }
    if let Some(paths) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&paths).map(|p| p.join("dvc")));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".venv-dvc/bin/dvc"));
    }
    if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
        return Some(found);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "real dvc not found (set DVC_BIN or run .ci/install-pipeline-tools.sh): CI requires the compatibility tests"
        );
    }
    eprintln!("SKIPPED: real dvc not found; set DVC_BIN to run the compatibility tests");
    None
}

/// Runs a program in `dir`, panicking with its output when it fails.
pub fn run_ok(bin: &Path, dir: &Path, args: &[&str]) -> String {
    let out = run(bin, dir, args, &[]);
    assert!(
        out.status.success(),
        "{} {:?} failed in {}:\nstdout:\n{}\nstderr:\n{}",
        bin.display(),
        args,
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a program in `dir` with extra variables; dvc gets no analytics and a site cache of its own.
pub fn run(bin: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .current_dir(dir)
        .env("DVC_NO_ANALYTICS", "1")
        .env("DVC_SITE_CACHE_DIR", dir.join(".dvc-site-cache"))
        .env("SHELL", "/bin/sh")
        .env_remove("DVC_BIN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()))
}

/// Parsed `status --json` output of a program (real dvc or the `model-creation` binary).
pub fn status_json(bin: &Path, dir: &Path) -> serde_json::Value {
    let out = run_ok(bin, dir, &["status", "--json"]);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("status --json output {out:?}: {e}"))
}

/// Writes files (creating parents).
pub fn write(root: &Path, files: &[(&str, &[u8])]) {
    for (rel, data) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, data).expect("write");
    }
}

/// All regular files below `dir` (relative, sorted) with their bytes, skipping `.dvc`.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(d).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            let rel = p.strip_prefix(root).expect("prefix").to_string_lossy().into_owned();
            if rel == ".dvc" || rel == ".dvcignore" || rel.starts_with(".dvc-site-cache") || rel == "dvc.lock" {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push((rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Files of `.dvc/cache/files/md5` (relative key -> bytes), without writes in progress.
pub fn cache_objects(root: &Path) -> Vec<(String, Vec<u8>)> {
    let dir = root.join(".dvc/cache/files/md5");
    if !dir.exists() {
        return Vec::new();
    }
    let mut all = snapshot(&dir);
    all.retain(|(k, _)| !k.rsplit('/').next().unwrap_or("").starts_with('.'));
    all
}
