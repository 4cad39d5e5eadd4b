//! S3 data as stage dependencies and import sources, identified as DVC 3 identifies its
//! "external dependencies" (docs/dvc-s3-dependencies.md): an `s3://bucket/key` or
//! `remote://NAME/path` object by its ETag (quotes removed), a prefix by the md5 of its listing
//! (`[{"etag": .., "relpath": ..}]`, a `.dir` hash) with the total size and object count.
//!
//! A plain `s3://` URL takes its endpoint and keys from the AWS variables, as dvc (botocore)
//! does; `remote://NAME/path` from the remote's settings in `.dvc/config` and `config.local`.

use std::collections::HashMap;
use std::sync::Mutex;

use md5::{Digest, Md5};
use object_storage::{AwsEnv, ObjectInfo, S3Options, S3Settings, Store};

use crate::checksum::hex;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::hashing::{DirEntry, listing_bytes};
use crate::repo::Repo;

/// Whether a dependency is a URL rather than a workspace path.
pub fn is_url(dep: &str) -> bool {
    dep.starts_with("s3://") || dep.starts_with("remote://")
}

/// Where a URL's data lives: a store rooted at the bucket (or the remote's URL) and the key or
/// prefix below it.
pub struct Location {
    pub store: Store,
    /// Without leading or trailing `/`; empty for a whole bucket or remote.
    pub key: String,
    /// The URL names a prefix (it ends with `/`): never looked up as an object.
    pub prefix_only: bool,
}

/// Resolves an `s3://` or `remote://NAME/` URL for commands that read or write S3 data
/// themselves (`collect`, `batch-score`): a `remote://` URL takes its remote from the DVC
/// repository around `cwd`.
pub fn open(url: &str, cwd: &std::path::Path, env: &AwsEnv) -> Result<Location> {
    locate(Repo::find(cwd).ok().as_ref(), url, env, &S3Settings::default())
}

/// What a URL currently holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// One object: its ETag without quotes, as dvc writes it, and its size.
    Object { etag: String, size: u64 },
    /// The objects under a prefix.
    Prefix {
        /// md5 of the listing, with `.dir`.
        md5: String,
        size: u64,
        nfiles: u64,
        /// The listing (relpath, ETag, size), sorted by relpath; keys relative to the location.
        entries: Vec<DirEntry>,
    },
}

/// Resolves a URL to a store and key. `fs_config` is a `.dvc` file's per-dependency settings
/// (dvc's `--fs-config`), which win over everything else.
pub(crate) fn locate(repo: Option<&Repo>, url: &str, env: &AwsEnv, fs_config: &S3Settings) -> Result<Location> {
    let bad = |message: String| Error::BadUrl { url: url.to_string(), message };
    let prefix_only = url.ends_with('/');
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let options = S3Options::resolve(&format!("s3://{bucket}"), fs_config, env)?;
        return Ok(Location { store: Store::s3(options)?, key: key.trim_matches('/').to_string(), prefix_only });
    }
    let Some(rest) = url.strip_prefix("remote://") else {
        return Err(bad("expected s3://bucket/key or remote://NAME/path".into()));
    };
    let (name, key) = rest.split_once('/').unwrap_or((rest, ""));
    if name.is_empty() {
        return Err(bad("no remote name after remote://".into()));
    }
    let repo = repo
        .ok_or_else(|| bad("remote:// URLs name a remote of a DVC repository: run inside one (or use s3://)".into()))?;
    let remote = Config::load(repo)?.remote(Some(name))?;
    if !remote.url.starts_with("s3://") {
        return Err(bad(format!(
            "remote '{name}' is '{}', not an s3:// remote: only S3 remotes can be dependencies",
            remote.url
        )));
    }
    let store = crate::remote::open(repo, &remote, env)?;
    Ok(Location { store, key: key.trim_matches('/').to_string(), prefix_only })
}

/// What `location` holds now, or `None` when there is neither such an object nor any object
/// under the prefix (a missing bucket included, as in dvc).
pub(crate) async fn lookup(url: &str, location: &Location) -> Result<Option<Found>> {
    if !location.prefix_only && !location.key.is_empty() {
        match location.store.head(&location.key).await {
            Ok(Some(info)) => {
                let etag = unquoted_etag(url, &info)?;
                return Ok(Some(Found::Object { etag, size: info.size }));
            }
            Ok(None) => {}
            Err(object_storage::StorageError::NoSuchBucket { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    let objects = match location.store.list_info(&location.key).await {
        Ok(objects) => objects,
        Err(object_storage::StorageError::NoSuchBucket { .. } | object_storage::StorageError::NotFound { .. }) => {
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let strip = if location.key.is_empty() { 0 } else { location.key.len() + 1 };
    let mut entries = Vec::with_capacity(objects.len());
    for info in &objects {
        // Zero-byte "folder" markers (`raw/`) are not data.
        if info.key.ends_with('/') || info.key.len() <= strip {
            continue;
        }
        entries.push(DirEntry {
            relpath: info.key[strip..].to_string(),
            md5: unquoted_etag(url, info)?,
            size: info.size,
        });
    }
    if entries.is_empty() {
        return Ok(None);
    }
    entries.sort_by(|a, b| a.relpath.cmp(&b.relpath));
    let md5 = format!("{}.dir", hex(&Md5::digest(listing_bytes(&entries))));
    Ok(Some(Found::Prefix { md5, size: entries.iter().map(|e| e.size).sum(), nfiles: entries.len() as u64, entries }))
}

/// The ETag as dvc records it: the server's value without its double quotes, case kept.
fn unquoted_etag(url: &str, info: &ObjectInfo) -> Result<String> {
    match info.etag.as_deref().map(|e| e.trim_matches('"')) {
        Some(e) if !e.is_empty() => Ok(e.to_string()),
        _ => Err(Error::BadUrl {
            url: url.to_string(),
            message: format!("the server gave no ETag for '{}': dvc identifies S3 data by its ETag", info.key),
        }),
    }
}

/// Runs async storage work from the synchronous pipeline code, on a runtime of its own in a
/// thread of its own (so a caller that is itself inside a runtime does not deadlock or panic).
pub(crate) fn block_on<T: Send>(work: impl std::future::Future<Output = Result<T>> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
                runtime.block_on(work)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// What each URL held when first looked up during one command: `status` and `repro` ask about
/// the same dependency several times, and every answer in one run must agree.
#[derive(Debug)]
pub(crate) struct Lookups {
    env: AwsEnv,
    seen: Mutex<HashMap<String, Option<Found>>>,
}

impl Lookups {
    pub(crate) fn new(env: AwsEnv) -> Self {
        Lookups { env, seen: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn env(&self) -> &AwsEnv {
        &self.env
    }

    /// What `url` holds (from this command's first lookup of it).
    pub(crate) fn get(&self, repo: &Repo, url: &str) -> Result<Option<Found>> {
        if let Some(found) = self.seen.lock().unwrap_or_else(|p| p.into_inner()).get(url) {
            return Ok(found.clone());
        }
        let location = locate(Some(repo), url, &self.env, &S3Settings::default())?;
        let found = block_on(lookup(url, &location))?;
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).insert(url.to_string(), found.clone());
        Ok(found)
    }
}
