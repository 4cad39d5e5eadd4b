//! Our engine driven through the library API, one opened [`Project`] per step as the
//! `model-creation` binary opens one per command, beside the helpers shared with model_creation.
#![allow(dead_code)] // each test binary uses some of the helpers

mod shared;

use std::path::Path;

use dvc_pipeline::repro::{Outcome, ReproOptions};
use dvc_pipeline::{Error, Project, Repo, config, remote, status, transfer, workspace};

#[allow(unused_imports)] // not every test binary uses the S3 server
pub use s3_test_server::{ACCESS_KEY as AK, S3Server, SECRET_KEY as SK};
pub use shared::*;

/// An error with its causes, as the binaries print it (`{:#}`).
pub fn chain(e: &Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

fn ok<T>(what: &str, dir: &Path, r: Result<T, Error>) -> T {
    r.unwrap_or_else(|e| panic!("{what} in {}: {}", dir.display(), chain(&e)))
}

pub fn init(dir: &Path) {
    ok("init", dir, Repo::init(dir));
}

pub fn open(dir: &Path) -> Project {
    ok("opening the project", dir, Project::open(dir))
}

/// Runs repro; returns the progress lines it logged (one per line, as the binary prints them).
pub fn try_repro(dir: &Path, opts: &ReproOptions) -> Result<(String, Vec<(String, Outcome)>), Error> {
    let project = Project::open(dir)?;
    let mut log = String::new();
    let results = dvc_pipeline::repro::repro(&project, opts, &mut |line| {
        log.push_str(line);
        log.push('\n');
    })?;
    Ok((log, results))
}

pub fn repro(dir: &Path) -> String {
    repro_with(dir, &ReproOptions::default())
}

pub fn repro_with(dir: &Path, opts: &ReproOptions) -> String {
    ok("repro", dir, try_repro(dir, opts)).0
}

/// dvc's `status --json` object.
pub fn try_status(dir: &Path) -> Result<serde_json::Value, Error> {
    let items = status::status(&Project::open(dir)?)?;
    Ok(serde_json::Value::Object(items.into_iter().collect()))
}

pub fn our_status(dir: &Path) -> serde_json::Value {
    ok("status", dir, try_status(dir))
}

/// `add`s a path relative to `dir`.
pub fn add(dir: &Path, rel: &str) {
    ok("add", dir, dvc_pipeline::add(&open(dir), &dir.join(rel)));
}

pub fn checkout(dir: &Path) -> Vec<String> {
    ok("checkout", dir, workspace::checkout(&open(dir)))
}

/// The lock as JSON with stages keyed by name (order-independent comparison).
pub fn lock_json(root: &Path) -> serde_json::Value {
    dvc_pipeline::LockFile::load(&root.join("dvc.lock")).expect("lock parses").to_json()
}

/// `remote add -d NAME URL` (a local URL is taken relative to `dir`).
pub fn remote_add_default(dir: &Path, name: &str, url: &str) {
    ok("remote add", dir, config::remote_add(&Repo::find(dir).expect("repo"), dir, name, url, true, false, false));
}

/// `remote modify [--local] NAME KEY VALUE`.
pub fn remote_modify(dir: &Path, name: &str, key: &str, value: &str, local: bool) {
    ok(
        "remote modify",
        dir,
        config::remote_modify(&Repo::find(dir).expect("repo"), name, key, Some(value), false, local),
    );
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime").block_on(f)
}

fn default_store(project: &Project) -> Result<object_storage::Store, Error> {
    let rc = config::Config::load(&project.repo)?.remote(None)?;
    // The remote's own settings only: a developer's AWS variables must not reach the tests.
    remote::open(&project.repo, &rc, &object_storage::AwsEnv::default())
}

/// `push` to the default remote with 16 parallel transfers (the binary's default).
pub fn try_push(dir: &Path) -> Result<transfer::Report, Error> {
    try_push_with_jobs(dir, 16)
}

fn try_push_with_jobs(dir: &Path, jobs: usize) -> Result<transfer::Report, Error> {
    let project = Project::open(dir)?;
    let store = default_store(&project)?;
    block_on(transfer::push(&project, &store, jobs))
}

pub fn push_with_jobs(dir: &Path, jobs: usize) -> transfer::Report {
    ok("push", dir, try_push_with_jobs(dir, jobs))
}

pub fn push(dir: &Path) -> transfer::Report {
    ok("push", dir, try_push(dir))
}

/// `pull` from the default remote: fetch, then checkout. Returns the restored paths.
pub fn pull(dir: &Path) -> (transfer::Report, Vec<String>) {
    let project = open(dir);
    let store = ok("opening the remote", dir, default_store(&project));
    let report = ok("fetch", dir, block_on(transfer::fetch(&project, &store, 16)));
    (report, checkout(dir))
}
