//! Model-set parts on S3, for group training as an Indexed Job: each pod's `train --shard i/n
//! --out s3://…/part-i/` uploads the part it trained, and `merge-set` takes parts (or a prefix
//! holding them) from S3.
//!
//! An upload removes the prefix's old manifest first and writes the new one last, so a part is
//! visible only once all of it is there and a retried pod never leaves a manifest pointing at
//! files of two runs. A download takes only the files the manifest names; `merge-set` then
//! checks every one against the manifest's md5s.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use dvc_pipeline::external::Location;
use model_core::artifact::{METADATA_FILE, WEIGHTS_FILE};
use model_core::set::{SET_FILE, SetManifest};
use tempfile::TempDir;

use crate::merge_set::Part;

/// Whether `arg` names an S3 location rather than a local path.
pub fn is_url(arg: &str) -> bool {
    arg.starts_with("s3://") || arg.starts_with("remote://")
}

/// Where `train --out` writes: the directory itself, or for an S3 URL a temporary directory
/// uploaded by [`TrainOut::finish`].
pub struct TrainOut {
    dir: PathBuf,
    upload: Option<(String, TempDir)>,
}

impl TrainOut {
    pub fn new(out: &Path) -> Result<TrainOut> {
        match out.to_str().filter(|o| is_url(o)) {
            None => Ok(TrainOut { dir: out.to_path_buf(), upload: None }),
            Some(url) => {
                let staging = tempfile::tempdir().context("creating a temporary directory")?;
                Ok(TrainOut { dir: staging.path().join("out"), upload: Some((url.to_string(), staging)) })
            }
        }
    }

    /// The directory to train into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Uploads what was trained when `--out` was a URL: the URL and how many files.
    pub fn finish(self) -> Result<Option<(String, usize)>> {
        match self.upload {
            None => Ok(None),
            Some((url, _staging)) => upload(&self.dir, &url).map(|n| Some((url, n))),
        }
    }
}

/// The parts `merge-set` was given, those on S3 downloaded into the returned temporary
/// directory (keep it until the merge is done).
pub fn merge_parts(args: &[String]) -> Result<(Option<TempDir>, Vec<Part>)> {
    let mut staging: Option<TempDir> = None;
    let mut parts = Vec::new();
    for arg in args {
        if !is_url(arg) {
            parts.push(Part { name: arg.clone(), dir: PathBuf::from(arg) });
            continue;
        }
        let root = match &staging {
            Some(t) => t.path().to_path_buf(),
            None => staging.insert(tempfile::tempdir().context("creating a temporary directory")?).path().to_path_buf(),
        };
        for found in download_parts(arg, &root.join(parts.len().to_string()))? {
            parts.push(Part { name: found.url, dir: found.dir });
        }
    }
    Ok((staging, parts))
}

/// Resolves `url` (`s3://bucket/prefix/` or `remote://NAME/prefix/`) from the current directory.
fn open(url: &str) -> Result<Location> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    Ok(dvc_pipeline::external::open(url, &cwd, &object_storage::AwsEnv::from_process())?)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

fn key_of(at: &Location, rel: &str) -> String {
    if at.key.is_empty() { rel.to_string() } else { format!("{}/{rel}", at.key) }
}

/// Uploads the model or set directory `dir` (what `train` wrote) under `url`; returns how many
/// files were written.
pub fn upload(dir: &Path, url: &str) -> Result<usize> {
    let at = open(url)?;
    let mut files = Vec::new();
    walk(dir, dir, &mut files).with_context(|| format!("reading {}", dir.display()))?;
    // The manifest (set.json, or a single model's metadata.json) last, the rest in path order.
    let manifest = |rel: &String| rel == SET_FILE || rel == METADATA_FILE;
    files.sort_by_key(|rel| (manifest(rel), rel.clone()));
    runtime()?.block_on(async {
        for rel in files.iter().filter(|rel| manifest(rel)) {
            at.store.delete(&key_of(&at, rel)).await.with_context(|| format!("removing the old {url}{rel}"))?;
        }
        for rel in &files {
            at.store
                .put_file(&key_of(&at, rel), &dir.join(rel))
                .await
                .with_context(|| format!("uploading {} to {}", dir.join(rel).display(), join(url, rel)))?;
        }
        Ok(files.len())
    })
}

/// The files under `dir`, relative to `root`, `/`-separated.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

fn join(url: &str, rel: &str) -> String {
    if url.ends_with('/') { format!("{url}{rel}") } else { format!("{url}/{rel}") }
}

/// One part found on S3 and downloaded.
#[derive(Debug)]
pub struct Downloaded {
    /// Its URL (the prefix holding its set.json).
    pub url: String,
    /// Where it was downloaded.
    pub dir: PathBuf,
}

/// Downloads the part at `url` (a prefix holding a set.json), or every part one level below it
/// (`…/run/` holding `part-0/set.json`, `part-1/set.json`…), into directories under `into`.
pub fn download_parts(url: &str, into: &Path) -> Result<Vec<Downloaded>> {
    let at = open(url)?;
    runtime()?.block_on(async {
        let mut prefixes = Vec::new();
        if at
            .store
            .exists(&key_of(&at, SET_FILE))
            .await
            .with_context(|| format!("looking up {}", join(url, SET_FILE)))?
        {
            prefixes.push(String::new());
        } else {
            let strip = if at.key.is_empty() { 0 } else { at.key.len() + 1 };
            let mut found: Vec<String> = at
                .store
                .list(&at.key)
                .await
                .with_context(|| format!("listing {url}"))?
                .into_iter()
                .filter_map(|k| k.get(strip..).map(str::to_string))
                .filter_map(|rel| {
                    rel.strip_suffix(&format!("/{SET_FILE}")).filter(|p| !p.contains('/')).map(str::to_string)
                })
                .collect();
            found.sort();
            prefixes = found.into_iter().map(|p| format!("{p}/")).collect();
        }
        if prefixes.is_empty() {
            bail!(
                "{url} holds no model set part: no {SET_FILE} there or one level below (a part's {SET_FILE} is \
                 uploaded last, so a pod still training has none yet)"
            );
        }
        let mut out = Vec::with_capacity(prefixes.len());
        for (i, prefix) in prefixes.iter().enumerate() {
            let part_url = join(url, prefix);
            let dir = into.join(format!("part-{i}"));
            let manifest_key = key_of(&at, &format!("{prefix}{SET_FILE}"));
            let bytes =
                at.store.get(&manifest_key).await.with_context(|| format!("reading {}", join(&part_url, SET_FILE)))?;
            let manifest: SetManifest = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a model set manifest", join(&part_url, SET_FILE)))?;
            for member in manifest.groups.iter().chain(&manifest.fallback) {
                if member.dir.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
                    bail!(
                        "{}: member directory {:?} is not a path inside the set",
                        join(&part_url, SET_FILE),
                        member.dir
                    );
                }
                for file in [METADATA_FILE, WEIGHTS_FILE] {
                    let rel = format!("{}/{file}", member.dir);
                    let dest = dir.join(&rel);
                    if let Some(parent) = dest.parent() {
                        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
                    }
                    at.store
                        .get_to_file(&key_of(&at, &format!("{prefix}{rel}")), &dest)
                        .await
                        .with_context(|| format!("downloading {}", join(&part_url, &rel)))?;
                }
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            atomic_file::write(&dir.join(SET_FILE), &bytes, atomic_file::Durability::Fast)
                .with_context(|| format!("writing {}", dir.join(SET_FILE).display()))?;
            out.push(Downloaded { url: part_url, dir });
        }
        Ok(out)
    })
}
