//! The local content-addressed cache `.dvc/cache`: `files/md5/<2>/<30>` for DVC 3 objects,
//! `<2>/<30>` for DVC 2.x ones. Objects are written through `atomic_file` (a temporary file, made
//! read-only (0444), fsynced and renamed), so a crash never leaves a partial object under its
//! final name.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use atomic_file::{AtomicFile, Durability};

use crate::checksum::{self, Algo};
use crate::error::{Error, Result};
use crate::hashing::{self, DirEntry, HashInfo};
use crate::ignore::DvcIgnore;
use crate::state::HashState;

/// The cache directory of a repository.
#[derive(Clone, Debug)]
pub(crate) struct Cache {
    pub(crate) dir: PathBuf,
}

/// Object key relative to the cache (and remote) root.
pub(crate) fn object_key(md5: &str, algo: Algo) -> String {
    let (a, b) = md5.split_at(md5.len().min(2));
    match algo {
        Algo::Md5 => format!("files/md5/{a}/{b}"),
        Algo::Dos2Unix => format!("{a}/{b}"),
    }
}

impl Cache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Cache { dir }
    }

    pub(crate) fn path(&self, md5: &str, algo: Algo) -> PathBuf {
        self.dir.join(object_key(md5, algo))
    }

    pub(crate) fn has(&self, md5: &str, algo: Algo) -> bool {
        self.path(md5, algo).is_file()
    }

    /// Copies `src` into the cache under `md5` unless it is already there.
    pub(crate) fn save_file(&self, src: &Path, md5: &str, algo: Algo) -> Result<()> {
        let dest = self.path(md5, algo);
        if dest.is_file() {
            return Ok(());
        }
        let mut from = std::fs::File::open(src).map_err(|e| Error::io("reading", src, e))?;
        let res = (|| -> std::io::Result<()> {
            let object = AtomicFile::create(&dest, Durability::Durable)?;
            // `&File` as the writer: an in-kernel copy (a reflink where the file system has them).
            std::io::copy(&mut from, &mut object.file())?;
            test_pause_hook();
            object.file().set_permissions(std::fs::Permissions::from_mode(0o444))?;
            object.commit()
        })();
        res.map_err(|e| Error::io("caching", src, e))
    }

    /// Stores bytes (a `.dir` manifest) under `md5`.
    pub(crate) fn save_bytes(&self, data: &[u8], md5: &str, algo: Algo) -> Result<()> {
        let dest = self.path(md5, algo);
        if dest.is_file() {
            return Ok(());
        }
        let res = (|| -> std::io::Result<()> {
            let mut object = AtomicFile::create(&dest, Durability::Durable)?;
            object.write_all(data)?;
            object.file().set_permissions(std::fs::Permissions::from_mode(0o444))?;
            object.commit()
        })();
        res.map_err(|e| Error::io("writing", &dest, e))
    }

    /// Caches a hashed file or directory found at `path`.
    pub(crate) fn save(&self, path: &Path, h: &HashInfo, algo: Algo) -> Result<()> {
        match &h.entries {
            None => self.save_file(path, &h.md5, algo),
            Some(entries) => {
                use rayon::prelude::*;
                entries.par_iter().try_for_each(|e| self.save_file(&path.join(&e.relpath), &e.md5, algo))?;
                self.save_bytes(&hashing::manifest_bytes(entries), &h.md5, algo)
            }
        }
    }

    /// Entries of a `.dir` object in the cache.
    pub(crate) fn read_dir_object(&self, md5: &str, algo: Algo) -> Option<Vec<DirEntry>> {
        let bytes = std::fs::read(self.path(md5, algo)).ok()?;
        hashing::parse_manifest(&bytes)
    }

    /// Every object key an entry needs (the `.dir` object last, as it is pushed last).
    /// `None` when a `.dir` object is not in the cache yet.
    pub(crate) fn object_keys(&self, md5: &str, algo: Algo) -> Option<Vec<String>> {
        if md5.ends_with(".dir") {
            let entries = self.read_dir_object(md5, algo)?;
            let mut keys: Vec<String> = entries.iter().map(|e| object_key(&e.md5, algo)).collect();
            keys.push(object_key(md5, algo));
            Some(keys)
        } else {
            Some(vec![object_key(md5, algo)])
        }
    }

    /// Restores `path` from the cache (as copies, DVC's default `cache.type`). Files that
    /// already match are left alone. Every file put in place is recorded in `state`, so the
    /// next status does not read it again. Files `ignore` ignores are neither removed nor restored.
    pub(crate) fn checkout(
        &self,
        path: &Path,
        md5: &str,
        algo: Algo,
        isexec: bool,
        state: &HashState,
        ignore: &DvcIgnore,
    ) -> Result<()> {
        if md5.ends_with(".dir") {
            let entries = self
                .read_dir_object(md5, algo)
                .ok_or_else(|| Error::MissingObject { path: path.display().to_string(), hash: md5.to_string() })?;
            if path.is_file() {
                std::fs::remove_file(path).map_err(|e| Error::io("removing", path, e))?;
            }
            let wanted: std::collections::HashSet<&str> = entries.iter().map(|e| e.relpath.as_str()).collect();
            if path.is_dir() {
                for (rel, abs) in hashing::list_files(path, ignore)? {
                    if !wanted.contains(rel.as_str()) {
                        std::fs::remove_file(&abs).map_err(|e| Error::io("removing", &abs, e))?;
                    }
                }
            }
            use rayon::prelude::*;
            entries.par_iter().try_for_each(|e| self.checkout_file(&path.join(&e.relpath), &e.md5, algo, false, state))
        } else {
            if path.is_dir() {
                std::fs::remove_dir_all(path).map_err(|e| Error::io("removing", path, e))?;
            }
            self.checkout_file(path, md5, algo, isexec, state)
        }
    }

    fn checkout_file(&self, dest: &Path, md5: &str, algo: Algo, isexec: bool, state: &HashState) -> Result<()> {
        let src = self.path(md5, algo);
        let missing = || Error::MissingObject { path: dest.display().to_string(), hash: md5.to_string() };
        let mut from = match std::fs::File::open(&src) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
            Err(e) => return Err(Error::io("reading", &src, e)),
        };
        if let Ok(m) = std::fs::metadata(dest) {
            let src_len = from.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
            if m.len() == src_len && checksum::md5_file(dest, algo).ok().as_deref() == Some(md5) {
                return Ok(());
            }
        }
        // Fast: a workspace copy can always be checked out again from the (durable) cache.
        let res = (|| -> std::io::Result<std::fs::Metadata> {
            let to = AtomicFile::create(dest, Durability::Fast)?;
            std::io::copy(&mut from, &mut to.file())?;
            to.file().set_permissions(std::fs::Permissions::from_mode(if isexec { 0o755 } else { 0o644 }))?;
            // The rename keeps inode, mtime and size: the hash state may record them now.
            let meta = to.file().metadata()?;
            to.commit()?;
            Ok(meta)
        })();
        let meta = res.map_err(|e| Error::io("checking out", dest, e))?;
        state.put(dest, &meta, algo, md5);
        Ok(())
    }

    /// All object keys present (for gc), excluding run-cache entries and temporaries.
    pub(crate) fn all_objects(&self) -> Result<Vec<(String, PathBuf)>> {
        if !self.dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (rel, abs) in hashing::list_files(&self.dir, &DvcIgnore::none())? {
            // Names starting with '.' are writes in progress (atomic_file's `.<name>.<random>.tmp`)
            // or left by a crash; no object name starts with one.
            let name = rel.rsplit('/').next().unwrap_or("");
            if rel.starts_with("runs/") || name.starts_with('.') {
                continue;
            }
            out.push((rel, abs));
        }
        Ok(out)
    }
}

/// Test-only hook: `DVC_PIPELINE_TEST_PAUSE_CACHING=<ms>` sleeps while a cache object is
/// half-way written (temporary file present, final name absent), so crash tests can kill us.
fn test_pause_hook() {
    if let Some(ms) = std::env::var("DVC_PIPELINE_TEST_PAUSE_CACHING").ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}
