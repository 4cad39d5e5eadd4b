//! push / fetch / pull: move only the objects the other side lacks, in parallel, with a
//! progress bar. Retries are the store's (`object_storage` retries every S3 operation with
//! backoff), not this module's. Uploads of a directory's files come before its
//! `.dir` object; downloads land under a temporary name, are hashed on the way in, and are
//! renamed to their cache name only when the hash matches.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use object_storage::{ObjectCheck, StorageError, Store};

use crate::cache::{Cache, object_key};
use crate::checksum::{Algo, Md5Stream};
use crate::error::{Error, Result};
use crate::project::Project;

/// Counts of a transfer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Objects moved.
    pub transferred: usize,
    /// Objects the destination already had.
    pub skipped: usize,
    /// Objects missing from the local cache (push) or the remote (fetch).
    pub missing: Vec<String>,
    /// Temporary files of interrupted earlier pushes that this push removed from a local
    /// remote (see [`STALE_TEMP_AGE`]).
    pub stale_temp_files_removed: usize,
}

/// How long a temporary file in a local remote must have gone unwritten before a push removes
/// it as left by an interrupted push (`kill -9`, a power cut: no code of that push ran to clean
/// up). A push in progress in another process writes its temporary files continuously, which
/// keeps their modification times fresh; an hour without a single write is far beyond any
/// stall of a live copy, so a concurrent push is never disturbed.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} objects ({per_sec}, eta {eta})") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

/// (md5, algo) of every pushable out (cached outs of the locks and `.dvc` files).
fn wanted(project: &Project) -> Result<Vec<(String, Algo)>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (_, e, cached) in project.tracked_outs()? {
        if cached && !e.md5.is_empty() && seen.insert((e.md5.clone(), e.algo)) {
            out.push((e.md5, e.algo));
        }
    }
    Ok(out)
}

/// Which of `keys` the store already has: one listing when there are many, else HEADs.
async fn present_on(store: &Store, keys: &[String], jobs: usize) -> Result<HashSet<String>> {
    if keys.len() > 64 {
        let mut have: HashSet<String> = HashSet::new();
        let mut prefixes: Vec<&str> = Vec::new();
        for k in keys {
            let p = if k.starts_with("files/md5/") { "files/md5" } else { &k[..2] };
            if !prefixes.contains(&p) {
                prefixes.push(p);
            }
        }
        for p in prefixes {
            have.extend(store.list(p).await?);
        }
        return Ok(keys.iter().filter(|k| have.contains(*k)).cloned().collect());
    }
    let results: Vec<(String, std::result::Result<bool, StorageError>)> = futures::stream::iter(keys.iter().cloned())
        .map(|k| async move {
            let r = store.exists(&k).await;
            (k, r)
        })
        .buffer_unordered(jobs)
        .collect()
        .await;
    let mut have = HashSet::new();
    for (k, r) in results {
        if r? {
            have.insert(k);
        }
    }
    Ok(have)
}

/// Uploads the cached objects the workspace uses that `store` lacks.
pub async fn push(project: &Project, store: &Store, jobs: usize) -> Result<Report> {
    let cache = &project.cache;
    let mut report = Report::default();
    let mut files: Vec<String> = Vec::new();
    let mut dirs: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for (md5, algo) in wanted(project)? {
        match cache.object_keys(&md5, algo) {
            None => report.missing.push(object_key(&md5, algo)),
            Some(keys) => {
                for k in keys {
                    if seen.insert(k.clone()) {
                        if k.ends_with(".dir") { dirs.push(k) } else { files.push(k) }
                    }
                }
            }
        }
    }
    files.retain(|k| {
        let ok = cache.dir.join(k).is_file();
        if !ok {
            report.missing.push(k.clone());
        }
        ok
    });
    let all: Vec<String> = files.iter().chain(dirs.iter()).cloned().collect();
    // The directories this push writes are the ones an interrupted push of the same data wrote.
    report.stale_temp_files_removed = store.remove_stale_temp_files(&all, STALE_TEMP_AGE).await?;
    let have = present_on(store, &all, jobs).await?;
    report.skipped = have.len();
    for group in [files, dirs] {
        let todo: Vec<String> = group.into_iter().filter(|k| !have.contains(k)).collect();
        upload(store, &cache.dir, &todo, jobs).await?;
        report.transferred += todo.len();
    }
    Ok(report)
}

async fn upload(store: &Store, cache_dir: &Path, keys: &[String], jobs: usize) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let pb = bar(keys.len(), "push");
    let results: Vec<std::result::Result<(), StorageError>> = futures::stream::iter(keys.iter())
        .map(|k| {
            let src = cache_dir.join(k);
            let pb = pb.clone();
            async move {
                test_pause_hook().await;
                let r = store.put_file(k, &src).await;
                pb.inc(1);
                r
            }
        })
        .buffer_unordered(jobs)
        .collect()
        .await;
    pb.finish_and_clear();
    for r in results {
        r?;
    }
    Ok(())
}

/// Downloads the objects the workspace uses that the local cache lacks.
pub async fn fetch(project: &Project, store: &Store, jobs: usize) -> Result<Report> {
    let cache = &project.cache;
    let mut report = Report::default();
    let wanted = wanted(project)?;
    // First the .dir objects, which say which files a directory needs.
    let dir_keys: Vec<(String, String, Algo)> = wanted
        .iter()
        .filter(|(m, a)| m.ends_with(".dir") && !cache.has(m, *a))
        .map(|(m, a)| (object_key(m, *a), m.clone(), *a))
        .collect();
    download(store, cache, &dir_keys, jobs, &mut report).await?;
    let mut files: Vec<(String, String, Algo)> = Vec::new();
    let mut seen = HashSet::new();
    for (md5, algo) in &wanted {
        let Some(keys) = cache.object_keys(md5, *algo) else { continue };
        let entries: Vec<String> = match cache.read_dir_object(md5, *algo) {
            Some(e) => e.into_iter().map(|e| e.md5).collect(),
            None => vec![md5.clone()],
        };
        for (k, m) in keys.into_iter().zip(entries) {
            if !cache.dir.join(&k).is_file() && seen.insert(k.clone()) {
                files.push((k, m, *algo));
            }
        }
    }
    download(store, cache, &files, jobs, &mut report).await?;
    Ok(report)
}

async fn download(
    store: &Store,
    cache: &Cache,
    items: &[(String, String, Algo)],
    jobs: usize,
    report: &mut Report,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let pb = bar(items.len(), "fetch");
    let results: Vec<(String, Result<()>)> = futures::stream::iter(items.iter())
        .map(|(k, md5, algo)| {
            let dest = cache.dir.join(k);
            let pb = pb.clone();
            async move {
                let r = fetch_one(store, k, &dest, md5, *algo).await;
                pb.inc(1);
                (k.clone(), r)
            }
        })
        .buffer_unordered(jobs)
        .collect()
        .await;
    pb.finish_and_clear();
    for (k, r) in results {
        match r {
            Ok(()) => report.transferred += 1,
            Err(Error::Storage(StorageError::NotFound { .. })) => report.missing.push(k),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn fetch_one(store: &Store, key: &str, dest: &Path, md5: &str, algo: Algo) -> Result<()> {
    let check = || {
        // A `.dir` manifest is hashed as raw bytes whatever the entry's algorithm.
        let (expected, algo) = match md5.strip_suffix(".dir") {
            Some(base) => (base.to_string(), Algo::Md5),
            None => (md5.to_string(), algo),
        };
        VerifyMd5 { hasher: Md5Stream::new(algo), expected }
    };
    match store.get_to_file_checked(key, dest, check).await {
        Err(StorageError::Rejected { reason, .. }) => {
            Err(Error::CorruptObject { key: key.to_string(), location: store.describe(), reason })
        }
        other => Ok(other?),
    }
}

/// Hashes an object while it downloads; only a file with the expected hash enters the cache,
/// read-only like every cache object.
struct VerifyMd5 {
    hasher: Md5Stream,
    expected: String,
}

impl ObjectCheck for VerifyMd5 {
    fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    fn finish(self, file: &std::fs::File) -> std::result::Result<(), String> {
        let got = self.hasher.finish();
        if got != self.expected {
            return Err(format!("its md5 is {got}, expected {}", self.expected));
        }
        file.set_permissions(std::fs::Permissions::from_mode(0o444))
            .map_err(|e| format!("making the cache object read-only failed: {e}"))
    }
}

/// Test-only hook: `DVC_PIPELINE_TEST_PAUSE_TRANSFER=<ms>` waits before each upload, so a
/// test can interrupt a push half-way.
async fn test_pause_hook() {
    if let Some(ms) = std::env::var("DVC_PIPELINE_TEST_PAUSE_TRANSFER").ok().and_then(|v| v.parse::<u64>().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}
