//! Hash state: remembers the md5 of files by (path, inode, mtime, size) so unchanged files are
//! not re-read, like DVC's state database. Kept in `.dvc/tmp/rs-hash-state` (our own format;
//! deleting it only costs re-hashing).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::checksum::Algo;

type Key = (PathBuf, bool);
type Stamp = (u64, i128, u64);

/// Thread-safe in-memory map, loaded from and saved to one file.
#[derive(Debug, Default)]
pub(crate) struct HashState {
    file: Option<PathBuf>,
    map: Mutex<HashMap<Key, (Stamp, String)>>,
    dirty: Mutex<bool>,
}

impl HashState {
    /// Loads the state file (a missing or unreadable file is an empty state).
    pub(crate) fn load(file: PathBuf) -> Self {
        let mut map = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(&file) {
            for line in text.lines() {
                let parts: Vec<&str> = line.splitn(6, '\t').collect();
                if let [algo, ino, mtime, size, md5, path] = parts[..]
                    && let (Ok(ino), Ok(mtime), Ok(size)) = (ino.parse(), mtime.parse(), size.parse())
                {
                    map.insert((PathBuf::from(path), algo == "d"), ((ino, mtime, size), md5.to_string()));
                }
            }
        }
        HashState { file: Some(file), map: Mutex::new(map), dirty: Mutex::new(false) }
    }

    pub(crate) fn get(&self, path: &Path, meta: &std::fs::Metadata, algo: Algo) -> Option<String> {
        let map = self.map.lock().ok()?;
        let (stamp, md5) = map.get(&(path.to_path_buf(), algo == Algo::Dos2Unix))?;
        (*stamp == stat_key(meta)).then(|| md5.clone())
    }

    pub(crate) fn put(&self, path: &Path, meta: &std::fs::Metadata, algo: Algo, md5: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.insert((path.to_path_buf(), algo == Algo::Dos2Unix), (stat_key(meta), md5.to_string()));
        }
        if let Ok(mut d) = self.dirty.lock() {
            *d = true;
        }
    }

    /// Writes the state back if anything changed (best effort: a failure only costs re-hashing).
    pub(crate) fn save(&self) {
        let Some(file) = &self.file else { return };
        if !self.dirty.lock().map(|d| *d).unwrap_or(false) {
            return;
        }
        let Ok(map) = self.map.lock() else { return };
        let mut out = String::with_capacity(map.len() * 120);
        for ((path, d), ((ino, mtime, size), md5)) in map.iter() {
            let Some(p) = path.to_str() else { continue };
            if p.contains('\n') || !path.exists() {
                continue;
            }
            out.push_str(&format!("{}\t{ino}\t{mtime}\t{size}\t{md5}\t{p}\n", if *d { "d" } else { "m" }));
        }
        // Fast: losing the state to a power cut only costs re-hashing.
        let _ = atomic_file::write(file, out.as_bytes(), atomic_file::Durability::Fast);
    }
}

/// (inode, mtime ns, size) of a file, the key of the hash state.
fn stat_key(meta: &std::fs::Metadata) -> (u64, i128, u64) {
    (meta.ino(), meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128, meta.len())
}
